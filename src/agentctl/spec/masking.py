"""Hiding secrets before anything is printed (`config get`, `preview`, `--debug`).

A secret is never printed whole: long values keep their first 4 and last 2
characters so that a person can tell two keys apart, short ones become ``****``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

MASK = "****"
# Keys whose values are secret wherever they appear (s.yaml props, env vars, headers, access files).
SECRET_KEY = re.compile(
    r"secret|passw(or)?d|token|access[-_]?key|api[-_]?key|private[-_]?key|credential(?!name)|authorization|signature",
    re.IGNORECASE,
)


def mask(value: Any) -> str:
    """``LTAI****Mn`` for a long value, ``****`` for a short one: never the full value."""
    text = "" if value is None else str(value)
    if len(text) >= 12:
        return text[:4] + MASK + text[-2:]
    return MASK if text else ""


def is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and bool(SECRET_KEY.search(key))


def mask_document(value: Any, secrets: Collection[str] = ()) -> Any:
    """A copy of ``value`` with secret-named keys masked, and every occurrence of a known secret value.

    ``secrets`` are values that must never appear (e.g. what ``${config('AccessKeySecret')}`` gave);
    they are replaced inside longer strings too.
    """
    known = sorted((s for s in secrets if s), key=len, reverse=True)
    return _walk(value, known)


def _walk(value: Any, known: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: (_mask_leaf(item) if is_secret_key(key) else _walk(item, known)) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, known) for item in value]
    if isinstance(value, str):
        for secret in known:
            # A short value (e.g. a 3-digit test account) is masked only where it is the whole value.
            if value == secret or (len(secret) >= 6 and secret in value):
                value = value.replace(secret, mask(secret))
        return value
    return value


def _mask_leaf(value: Any) -> Any:
    # A secret-named key may hold a map (e.g. `credentials: {...}`): mask every leaf under it.
    if isinstance(value, dict):
        return {key: _mask_leaf(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_leaf(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    return mask(value)
