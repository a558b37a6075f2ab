"""Input checks of the emulator's control API, each failing with the API error the cloud would give.

``ServiceError(status, code, message)`` is what the service raises; the control
server turns it into ``{code, message, requestId}`` with that HTTP status.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from agentctl.api import models

NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,127}$")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# field -> (kind, low, high); kind "number" accepts ints and floats, "int" only ints.
_RANGES: dict[str, tuple[str, float, float]] = {
    "cpu": ("number", 0.05, 16),
    "memory": ("int", 128, 32768),
    "diskSize": ("int", 512, 10240),
    "port": ("int", 1, 65535),
    "sessionConcurrencyLimitPerInstance": ("int", 1, 200),
    "sessionIdleTimeoutSeconds": ("int", 0, 86400),
}
_STRINGS = ("description", "executionRoleArn", "credentialName", "headerFieldName", "sessionAffinityType",
            "artifactType")
_OBJECTS = ("codeConfiguration", "containerConfiguration", "healthCheckConfiguration", "networkConfiguration",
            "logConfiguration", "nasConfig", "ossMountConfig", "protocolConfiguration")


class ServiceError(Exception):
    """An API error reply: HTTP ``status``, error ``code`` (Alibaba Cloud style) and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def bad(message: str, code: str = "InvalidParameter") -> ServiceError:
    return ServiceError(400, code, message)


def name(value: Any, field: str) -> str:
    if value is None or value == "":
        raise bad(f"{field} is required", "MissingParameter")
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise bad(f"{field} {value!r} must match {NAME_PATTERN.pattern} (a letter, then up to 127 letters, "
                  "digits, '_' or '-')")
    return value


def body_object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    return body


def _keys(model: Any) -> frozenset[str]:
    return frozenset(model.__required_keys__ | model.__optional_keys__)


# The request fields of each operation, from the wire models (``api.models``, the SDK's names).
CREATE_RUNTIME = _keys(models.CreateAgentRuntimeInput)
UPDATE_RUNTIME = _keys(models.UpdateAgentRuntimeInput)
CODE = _keys(models.CodeConfiguration)
CREATE_ENDPOINT = _keys(models.CreateAgentRuntimeEndpointInput)
UPDATE_ENDPOINT = _keys(models.UpdateAgentRuntimeEndpointInput)
PUBLISH = _keys(models.PublishRuntimeVersionInput)


def only_fields(body: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    """Refuse a field the operation does not have (a typo would otherwise be stored and ignored)."""
    import difflib

    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            raise bad(f"{what} has no field {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    code = body.get("codeConfiguration")
    if isinstance(code, Mapping) and "codeConfiguration" in allowed:
        only_fields(code, CODE, "codeConfiguration")


def runtime_fields(body: Mapping[str, Any]) -> None:
    """Type and range checks of the runtime configuration fields present in ``body``."""
    for field, (kind, low, high) in _RANGES.items():
        value = body.get(field)
        if value is None:
            continue
        ok_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not low <= value <= high:
            raise bad(f"{field} must be {'an integer' if kind == 'int' else 'a number'} from {low:g} to {high:g}, "
                      f"got {value!r}")
    for field in _STRINGS:
        if body.get(field) is not None and not isinstance(body[field], str):
            raise bad(f"{field} must be a string")
    for field in _OBJECTS:
        if body.get(field) is not None and not isinstance(body[field], dict):
            raise bad(f"{field} must be an object")
    env = body.get("environmentVariables")
    if env is not None and not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise bad("environmentVariables must map names to string values")
    command = (body.get("codeConfiguration") or {}).get("command")
    if command is not None and not (isinstance(command, list) and all(isinstance(c, str) for c in command)):
        raise bad("codeConfiguration.command must be a list of strings")


def zip_bytes(code: Mapping[str, Any], *, required: bool) -> bytes | None:
    """The decoded ``codeConfiguration.zipFile``; checks the checksum when one is given."""
    if code.get("ossBucketName") or code.get("ossObjectName"):
        raise bad("code in OSS (ossBucketName/ossObjectName) cannot be fetched by the local emulator; "
                  "send it inline as codeConfiguration.zipFile", "NotSupported")
    encoded = code.get("zipFile")
    if not encoded:
        if required:
            raise bad("codeConfiguration.zipFile is required (base64 of the code zip)", "MissingParameter")
        return None
    if not isinstance(encoded, str):
        raise bad("codeConfiguration.zipFile must be a base64 string")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad(f"codeConfiguration.zipFile is not valid base64 ({exc})") from exc
    expected = code.get("checksum")
    if expected not in (None, ""):
        from agentctl.build.package import checksum

        actual = checksum(data)
        if str(expected) != actual:
            raise bad(f"codeConfiguration.checksum {expected} does not match the zip (CRC-64 {actual})",
                      "CodeChecksumMismatch")
    return data


def version_label(value: Any, field: str) -> str:
    """``LATEST`` or a version number, as the API's string form."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if text == "LATEST" or (text.isdigit() and int(text) > 0):
        return text if text == "LATEST" else str(int(text))
    raise bad(f"{field} {value!r} must be LATEST or a published version number")


def weights(routing: Any) -> list[dict[str, Any]]:
    """The ``versionWeights`` of a ``routingConfiguration``: each 0..1, their sum below 1."""
    if routing is None:
        return []
    if not isinstance(routing, dict):
        raise bad("routingConfiguration must be an object")
    entries = routing.get("versionWeights") or []
    if not isinstance(entries, list):
        raise bad("routingConfiguration.versionWeights must be a list of {version, weight}")
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        where = f"routingConfiguration.versionWeights[{i}]"
        if not isinstance(entry, dict):
            raise bad(f"{where} must be an object {{version, weight}}")
        weight = entry.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise bad(f"{where}.weight must be a number from 0 to 1, got {weight!r}")
        out.append({"version": version_label(entry.get("version"), f"{where}.version"), "weight": weight})
    total = sum(e["weight"] for e in out)
    if out and total >= 1:
        raise bad(f"the versionWeights add up to {total:g}; they must stay below 1 (the rest goes to "
                  "targetVersion)")
    labels = [e["version"] for e in out]
    if len(set(labels)) != len(labels):
        raise bad("routingConfiguration.versionWeights names a version twice")
    return out


def page_args(query: Mapping[str, str]) -> tuple[int, int]:
    return (_positive(query, "pageNumber", 1, None), _positive(query, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


def _positive(query: Mapping[str, str], field: str, default: int, high: int | None) -> int:
    raw = query.get(field)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if value < 1 or (high is not None and value > high):
        raise bad(f"{field} must be an integer from 1{f' to {high}' if high else ''}, got {raw!r}")
    return value


def page(items: list[dict[str, Any]], number: int, size: int) -> dict[str, Any]:
    """The API's list shape for one page of ``items``."""
    start = (number - 1) * size
    return {"items": items[start:start + size], "pageNumber": number, "pageSize": size, "total": len(items)}


def name_matches(actual: str, wanted: str | None, mode: str | None) -> bool:
    """``searchMode`` exact compares whole names; otherwise the filter is a substring (the cloud's fuzzy default)."""
    if not wanted:
        return True
    return actual == wanted if (mode or "").lower() == "exact" else wanted in actual
