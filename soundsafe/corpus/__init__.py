"""The demo corpus: real compositions from music21's score corpus, arranged and rendered to audio."""
