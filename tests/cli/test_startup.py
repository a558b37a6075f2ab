"""`agentctl --help` must stay light: heavy libraries are imported inside command bodies only."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("docker", "httpx", "jsonschema", "aiohttp", "agentctl.emulator", "websockets")

PROBE = """
import json, sys
sys.argv = ["agentctl", *sys.argv[1:]]
from agentctl.cli.main import run
try:
    run()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                        and any(m == h or m.startswith(h + ".") for h in HEAVY))))
"""


def imported_heavy_modules(*args: str) -> list[str]:
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_module() -> None:
    assert imported_heavy_modules("--help") == []


def test_every_command_group_help_imports_no_heavy_module() -> None:
    from typer.main import get_command

    from agentctl.cli.main import app

    group = get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert names, "no command registered"
    for name in names:
        assert imported_heavy_modules(name, "--help") == [], name
