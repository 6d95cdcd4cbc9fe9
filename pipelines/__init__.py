"""Pipelines over the step registry: Kubeflow (``kfp_training``) and Azure ML, with their compiled outputs."""
