"""Write an s.yaml (and friends) into a temporary folder and load it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from agentctl.spec import Project, load_project


def write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, **options: Any) -> Project:
    options.setdefault("environ", {})
    return load_project(write(folder, text), **options)
