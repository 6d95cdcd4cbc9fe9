"""The watermark: psychoacoustic model, keyed carrier, model, training phases, and the embed/detect API."""
