"""Releasing a trained model: the evaluation gate and the MLflow model registry step."""
