"""The Serverless Devs parser as a test oracle, and the corpus of cases it judges.

The parser (``@serverless-devs/parse-spec`` through ``../shared/conformance/sdevs/resolve.js``)
is installed with ``npm ci`` into ``<repo>/.cache/sdevs`` (git-ignored; the shared folder is read-only),
under a file lock, at most once per lock-file content (a stamp records a finished install).

A case is a folder ``cases/<name>/`` with ``s.yaml``, any data files, and an optional ``case.yaml``:
``env`` (variables set for both parsers), ``preview`` (resolve in preview mode), and for
``error-*`` cases ``error`` (a text agentctl's message must contain) and ``line``/``column``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]


def _harness_dir() -> Path:
    """``$AGENTCTL_SDEVS_HARNESS``, else ``shared/conformance/sdevs`` beside the checkout or any folder above it
    (a git worktree may sit deeper than the main checkout)."""
    if os.environ.get("AGENTCTL_SDEVS_HARNESS"):
        return Path(os.environ["AGENTCTL_SDEVS_HARNESS"])
    candidates = [folder / "shared" / "conformance" / "sdevs" for folder in REPO.parents]
    return next((c for c in candidates if (c / "resolve.js").is_file()), candidates[0])


SHARED = _harness_dir()
CACHE = REPO / ".cache" / "sdevs"
CASES = Path(__file__).resolve().parent / "cases"
HARNESS_FILES = ("package.json", "package-lock.json", "resolve.js")
ENV_PREFIX = "CONF_"  # every variable a case uses starts with this, so the host environment cannot leak in


class OracleUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Case:
    name: str
    dir: Path
    env: dict[str, str] = field(default_factory=dict)
    preview: bool = False
    error: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def expects_error(self) -> bool:
        return self.name.startswith("error-")

    def environ(self) -> dict[str, str]:
        base = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
        return {**base, **self.env}


def load_cases() -> list[Case]:
    cases = []
    for folder in sorted(p for p in CASES.iterdir() if (p / "s.yaml").is_file()):
        # `.env` files are git-ignored everywhere (they hold secrets), so a case keeps its own as `dotenv`.
        if (folder / "dotenv").is_file():
            shutil.copyfile(folder / "dotenv", folder / ".env")
        meta_file = folder / "case.yaml"
        meta = yaml.safe_load(meta_file.read_text()) if meta_file.is_file() else {}
        cases.append(Case(folder.name, folder, {k: str(v) for k, v in (meta.get("env") or {}).items()},
                          bool(meta.get("preview")), meta.get("error"), meta.get("line"), meta.get("column")))
    return cases


def install() -> Path:
    """``npm ci`` the harness into the cache (once per lock content); returns the folder holding resolve.js."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise OracleUnavailable("node/npm are not installed")
    if not (SHARED / "resolve.js").is_file():
        raise OracleUnavailable(f"the parse harness is missing at {SHARED}")
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(b"".join((SHARED / name).read_bytes() for name in HARNESS_FILES)).hexdigest()
    stamp = CACHE / ".installed"
    with open(CACHE.parent / "sdevs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == digest and (CACHE / "node_modules").is_dir():
            return CACHE
        for name in HARNESS_FILES:
            shutil.copyfile(SHARED / name, CACHE / name)
        stamp.unlink(missing_ok=True)
        # --legacy-peer-deps: npm 9 (Debian's) also wants the optional peer types that the lock, written by a
        # newer npm, leaves out, and refuses the lock; running the parser needs no peer. The lock stays exact.
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--legacy-peer-deps"], cwd=CACHE,
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise OracleUnavailable(f"npm ci failed: {result.stderr.strip()[-2000:]}")
        stamp.write_text(digest)
    return CACHE


def run_oracle(harness: Path, case: Case) -> dict[str, Any]:
    """``{"content":..., "steps":[...]}`` or ``{"error": "..."}`` from the Serverless Devs parser."""
    args = ["node", str(harness / "resolve.js"), str(case.dir / "s.yaml")] + (["--preview"] if case.preview else [])
    result = subprocess.run(args, cwd=case.dir, env=case.environ(), capture_output=True, text=True, timeout=120)
    try:
        answer: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        return {"error": f"no JSON from the oracle (exit {result.returncode}): {result.stderr[-500:]}"}
    return answer


def run_all(harness: Path, cases: list[Case]) -> dict[str, dict[str, Any]]:
    """Every case through the oracle, two node processes at a time (the machine is shared)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([c.name for c in cases], pool.map(lambda c: run_oracle(harness, c), cases), strict=True))


def normalise(value: Any, case: Case) -> Any:
    """The one documented normalisation: absolute paths of the case folder (path(), cwd) become ``<case>``."""
    if isinstance(value, dict):
        return {key: normalise(item, case) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item, case) for item in value]
    if isinstance(value, str):
        return value.replace(str(case.dir.resolve()), "<case>").replace(str(case.dir), "<case>")
    return value
