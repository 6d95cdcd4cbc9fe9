"""The neural watermark: psychoacoustic model, embedder and detector (in progress, see issue 5)."""
