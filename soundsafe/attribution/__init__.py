"""Dataset attribution by hidden echoes (seed 003, after Tralie et al. 2024).

A rights holder marks the music it releases with an echo; an audio-to-audio generative model trained on that
music learns to reproduce the echo, so its outputs, even for inputs that were never marked, carry it. The
modules: :mod:`~soundsafe.attribution.marks` (single and time-spread echo marks), :mod:`~.detect` (cepstral
z-scores), :mod:`~.models` (the generative models trained on marked or clean music), :mod:`~.train`,
:mod:`~.evaluate` and :mod:`~.step` (the ``attribution_train`` and ``attribution_evaluate`` steps).
"""
