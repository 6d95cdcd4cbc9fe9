"""Watermarkers to compare against: classical echo baselines and an adapter for external command-line tools."""
