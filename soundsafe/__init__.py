"""SoundSafe."""
