"""Audio I/O, resampling and format helpers."""
