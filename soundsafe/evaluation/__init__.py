"""Evaluation on MPAI-NNW's three axes (imperceptibility, robustness, computational cost), for the model and the
baselines through one harness; ``soundsafe.evaluation.run.evaluate_to`` writes the report."""
