"""The functions of s.yaml expressions: env, config, file, path, json, yaml, base64.

They behave as Serverless Devs' functions do (same names, same failures):
relative paths are taken from the s.yaml's folder; ``env`` treats an empty
variable as unset; ``config`` reads the resolved credentials and, in preview,
stays as written when they are missing.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentctl.spec.interpolate import ExprError, js_string

ConfigLookup = Callable[[str], str | None]


class Functions:
    """The callable side of a ``Scope``: ``call(name, args)``."""

    def __init__(self, base_dir: Path, environ: Mapping[str, str], config: ConfigLookup | None = None,
                 preview: bool = False) -> None:
        self.base_dir, self.environ, self.config_lookup, self.preview = base_dir, environ, config, preview
        self._table: dict[str, Callable[..., Any]] = {
            "env": self.env, "config": self.config, "file": self.file, "path": self.path,
            "json": self.json, "yaml": self.yaml, "base64": self.base64, "secret": self.secret,
        }

    def call(self, name: str, args: list[Any]) -> Any:
        function = self._table.get(name)
        if function is None:
            raise ExprError(f"unknown function {name}()", f"use one of: {', '.join(sorted(self._table))}")
        if not args:
            raise ExprError(f"{name}() needs an argument", f"e.g. ${{{name}('...')}}")
        return function(*args[:2]) if name == "env" else function(args[0])

    def env(self, name: Any, default: Any = None) -> Any:
        value = self.environ.get(js_string(name))
        if value:
            return value
        if default is not None:
            return default
        raise ExprError(f"env('{name}') not found: the variable is unset or empty",
                        f"export {name}=..., put it in .env beside s.yaml, or give a default: env('{name}', '...')")

    def config(self, key: Any) -> Any:
        value = self.config_lookup(str(key)) if self.config_lookup else None
        if value:
            return value
        if self.preview:
            return f"${{config('{key}')}}"
        raise ExprError(f"config('{key}') not found in the credentials",
                        "add them with `agentctl config add` or choose an alias with -a")

    def secret(self, name: Any) -> str:
        if self.preview:  # as in `s`, preview shows the reference, never the value
            return f"${{secret('{name}')}}"
        raise ExprError(f"secret('{name}') is not supported by agentctl",
                        f"pass the value through the environment instead: ${{env('{name}')}}")

    def _resolve(self, value: Any) -> Path:
        path = Path(js_string(value)).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def file(self, value: Any) -> str:
        try:
            return self._resolve(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ExprError(f"file('{value}') not found", f"create {self._resolve(value)} or fix the path") from exc

    def path(self, value: Any) -> str:
        if not js_string(value):
            raise ExprError("path() value is empty", "give a path, e.g. ${path('./code')}")
        resolved = os.path.normpath(self._resolve(value))
        if not os.path.exists(resolved):
            raise ExprError(f"path('{value}') not found: {resolved} does not exist", "create it or fix the path")
        # like node's path.join, a trailing slash is kept
        return resolved + "/" if js_string(value).endswith("/") and not resolved.endswith("/") else resolved

    def json(self, value: Any) -> Any:
        try:
            return json.loads(value) if isinstance(value, str) else _not_text(value)
        except (ValueError, TypeError) as exc:
            raise ExprError(f"json('{_short(value)}') parse error", "give a JSON text, e.g. json(file('x.json'))") \
                from exc

    def yaml(self, value: Any) -> Any:
        from agentctl.errors import SpecError
        from agentctl.spec.loader import load_yaml_text

        try:
            return load_yaml_text(js_string(value), "<yaml()>")[0]
        except SpecError as exc:
            raise ExprError(f"yaml('{_short(value)}') parse error", "give a YAML text") from exc

    def base64(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ExprError(f"base64('{_short(value)}') parse error: not text", "give a string")
        return base64.b64encode(value.encode("utf-8")).decode("ascii")


def _not_text(value: Any) -> Any:
    raise TypeError(f"not text: {value!r}")


def _short(value: Any) -> str:
    text = js_string(value)
    return text if len(text) <= 40 else text[:37] + "..."
