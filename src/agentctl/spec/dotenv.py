"""Read a ``.env`` file the way dotenv + dotenv-expand (used by Serverless Devs) do.

``KEY=value`` lines, optional ``export``, ``#`` comments, single/double/back
quotes (double quotes expand ``\\n``), and ``${VAR}``/``$VAR`` expansion against
the environment first, then earlier keys of the file. The process environment
always wins over the file: ``environment_with_dotenv`` never overrides it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_LINE = re.compile(
    r"""^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$""",
    re.MULTILINE,
)
_EXPAND = re.compile(r"(\\)?\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def parse_dotenv(text: str) -> dict[str, str]:
    """The ``KEY -> value`` pairs of a .env text, before expansion."""
    values: dict[str, str] = {}
    for match in _LINE.finditer(text.replace("\r\n", "\n")):
        key, raw = match.group(1), (match.group(2) or "").strip()
        quote = raw[:1]
        if quote in ("'", '"', "`") and raw.endswith(quote) and len(raw) >= 2:
            raw = raw[1:-1]
            if quote == '"':
                raw = raw.replace("\\n", "\n").replace("\\r", "\r")
        values[key] = raw
    return values


def expand(values: dict[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """dotenv-expand: ``${X}``/``$X``/``${X:-default}`` from the environment, else from the file."""
    done: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        name, default = match.group(2) or match.group(4), match.group(3)
        found = environ.get(name) or done.get(name) or values.get(name)
        return found if found else (default or "")

    for key, value in values.items():
        # a key already set in the environment keeps that value (dotenv never overrides)
        done[key] = environ[key] if key in environ else _EXPAND.sub(substitute, value)
    return done


def environment_with_dotenv(env_file: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment seen by ``${env(...)}``: ``environ`` plus the keys of ``env_file`` it lacks."""
    base = dict(os.environ if environ is None else environ)
    if not env_file.is_file():
        return base
    file_values = expand(parse_dotenv(env_file.read_text(encoding="utf-8")), base)
    return {**file_values, **base}
