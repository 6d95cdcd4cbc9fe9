"""SHA-256 of a file, read in blocks: manifests, lineage tags, and which checkpoint a model export came from.

A light module (stdlib only) so that the default-model lookup can hash a checkpoint without importing pandas.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]


def sha256_file(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
