"""Protective noise against generative training (HarmonyCloak, seed 002).

Error-minimizing noise, kept under the music's masking threshold, added to music so that a generative model
trained on it learns little: :mod:`~soundsafe.cloak.budget` (what the psychoacoustic model allows per frame and
bin), :mod:`~.features` and :mod:`~.models` (generative models over log-mel frames: the surrogates and the unseen
evaluation architecture), :mod:`~.optimize` (white-box bilevel min–min and black-box meta-learned cloaks),
:mod:`~.evaluate` and :mod:`~.step` (the ``cloak`` and ``cloak_evaluate`` steps).
"""
