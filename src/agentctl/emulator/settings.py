"""How the daemon runs its data plane: driver, instance limits, queue, idle timeout.

Set by ``agentctl local start --driver … --max-instances … --idle-timeout …`` and kept in
``$AGENTCTL_HOME/emulator/settings.json``, so a daemon restarted by itself (after a crash or ``kill -9``)
runs with the same settings. Values not given keep their previous (or default) value.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from agentctl.errors import BadInput, storage_error

DRIVERS = ("auto", "process", "docker")
SETTINGS_FILE = "settings.json"


# setting → (its `local start` flag, lowest value: an int is allowed, a float must be exceeded, an example)
LIMITS: dict[str, tuple[str, int | float, str]] = {
    "max_instances": ("--max-instances", 1, "20"),
    "queue_depth": ("--queue-depth", 0, "100"),
    "queue_wait_seconds": ("--queue-wait", 0.0, "10"),
    "idle_timeout_seconds": ("--idle-timeout", 0.0, "300"),
    "startup_timeout_seconds": ("startup_timeout_seconds (settings.json)", 0.0, "60"),
    "body_timeout_seconds": ("--body-timeout", 0.0, "30"),
}


@dataclass(frozen=True)
class EmulatorSettings:
    driver: str = "auto"  # auto: docker when an engine answers, else process
    max_instances: int = 50  # all runtimes together; past it (and a full queue) requests get 429
    queue_depth: int = 100  # requests waiting for a free slot, per version
    queue_wait_seconds: float = 10.0  # how long one may wait in the queue before its 429
    idle_timeout_seconds: float = 300.0  # an instance with nothing in flight for this long stops (scale to zero)
    startup_timeout_seconds: float = 60.0  # from start to healthy
    body_timeout_seconds: float = 30.0  # a request head or body that pauses this long gets 408

    def check(self) -> EmulatorSettings:
        if self.driver not in DRIVERS:
            raise BadInput(f"unknown driver {self.driver!r}", hint=f"Use one of: {', '.join(DRIVERS)}.")
        for name, (flag, low, example) in LIMITS.items():
            value = getattr(self, name)
            if value < low if isinstance(low, int) else value <= low:
                bound = f"at least {low}" if isinstance(low, int) else "a positive number of seconds"
                raise BadInput(f"{flag} must be {bound}, not {value:g}", hint=f"Pass e.g. {flag} {example}.")
        return self

    def updated(self, **changes: Any) -> EmulatorSettings:
        """These settings with the given values changed (None means: keep)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).check()


def load(state_dir: Path) -> EmulatorSettings:
    try:
        raw = json.loads((state_dir / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return EmulatorSettings()
    known = {f.name for f in fields(EmulatorSettings)}
    return EmulatorSettings(**{k: v for k, v in raw.items() if k in known})


def save(state_dir: Path, settings: EmulatorSettings) -> None:
    """Write the settings atomically; a failed write (a full disk) leaves the old file and no temporary one."""
    tmp = state_dir / (SETTINGS_FILE + ".tmp")
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n")
        tmp.replace(state_dir / SETTINGS_FILE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(exc, "the emulator settings", state_dir) from exc
