"""Kubeflow components: one lightweight Python component per registered step, each a thin wrapper that runs the
step through :func:`soundsafe.orchestration.workspace.run_step_in_workspace` in the project image.

The five training phases share one component (``train_phase``), as they share one registry entry point."""
