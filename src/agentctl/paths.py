"""Where agentctl keeps its own files."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$AGENTCTL_HOME``, default ``~/.agentctl``."""
    return Path(os.environ.get("AGENTCTL_HOME") or Path.home() / ".agentctl")


def access_file() -> Path:
    return home() / "access.yaml"


def emulator_dir() -> Path:
    return home() / "emulator"
