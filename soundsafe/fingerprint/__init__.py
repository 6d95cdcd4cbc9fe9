"""Concert-robust song fingerprint (seed 001): contrastive encoder, FAISS index, Chromaprint baseline."""
