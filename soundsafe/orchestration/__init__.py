"""Orchestrator adapters over the step registry: Kubeflow Pipelines (``kfp``), Azure ML, and the shared
workspace runner that maps orchestrator artifacts onto the registry's paths."""
