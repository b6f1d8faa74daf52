"""Fingerprint of component source files, for Rasa's training cache."""

from __future__ import annotations

import hashlib
from pathlib import Path


def source_fingerprint(*files: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
