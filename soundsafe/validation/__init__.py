"""Data validation: per-file audio statistics checked by a Great Expectations suite."""
