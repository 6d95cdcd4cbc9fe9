"""Ownership marks in SoundSafe's own neural networks (MPAI-NNW, seed 004).

``key``: the secret key file and the payload (owner ID, model ID and the key's tag); ``whitebox``: a mark carried by
a keyed secret projection of one layer's weights, inserted in closed form and read from the weights alone;
``weights``: a layer's weights out of a torch checkpoint or an ONNX file, and a marked checkpoint written back;
``attacks``: the modifications MPAI-NNW evaluates a mark against (weight noise, pruning, quantization).
"""
