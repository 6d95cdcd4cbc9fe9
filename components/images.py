"""The project images the components run in (built from ``infra/``); override with environment variables when
compiling for your registry: ``SOUNDSAFE_IMAGE_CPU``, ``SOUNDSAFE_IMAGE_CUDA``."""

import os

CPU_IMAGE = os.environ.get("SOUNDSAFE_IMAGE_CPU", "ghcr.io/soundsafe/soundsafe-cpu:0.1.0")
CUDA_IMAGE = os.environ.get("SOUNDSAFE_IMAGE_CUDA", "ghcr.io/soundsafe/soundsafe-cuda:0.1.0")
