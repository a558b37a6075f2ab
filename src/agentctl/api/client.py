"""The HTTP client of the AgentRun control API (emulator and cloud), over httpx.

``SignedSession`` is the transport every API client shares: it signs each request
with ``AcsAuth`` (ACS3-HMAC-SHA256, on the final bytes), maps failures to
``agentctl.errors`` at this boundary (HTTP error replies → ``ApiError`` with a hint
per common code; connection problems → ``BackendError``; timeouts → ``TimedOut``)
and, with ``debug``, prints each call to stderr with secrets masked and ``zipFile``
shortened. ``AgentRunClient`` maps the twelve runtime operations of
``agentctl.api.models.OPERATIONS`` to methods that return the reply's ``data``;
list methods follow the pages to the end.

Endpoints: ``http://127.0.0.1:PORT`` (the emulator) or ``agentrun.<region>.aliyuncs.com``
(a bare host means https, except loopback hosts, which mean http).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from agentctl.access import Credentials
from agentctl.api.models import API_VERSION, OPERATION
from agentctl.api.signing import sign
from agentctl.errors import ApiError, BackendError, TimedOut

DEFAULT_TIMEOUT = 30.0
PAGE_SIZE = 50
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
# Besides x-acs-*, sign what identifies the request's target and body type (as the ACS3 spec asks).
_SIGNED = ("host", "content-type")
_SECRET_KEY = re.compile(r"secret|password|passwd|token|api_?key|access_?key|private_?key|authorization", re.I)
_DEBUG_LIMIT = 2000

_HINTS = {
    "MissingAuthorization": "The request was not signed; check that the alias has AccessKeyID and AccessKeySecret.",
    "InvalidAuthorization": "The Authorization header was malformed; retry, and report it with --debug if it persists.",
    "InvalidAccessKeyId.NotFound": "The AccessKey ID is unknown here: check the alias (`agentctl config get`); "
                                   "for the emulator use the `local` alias.",
    "SignatureDoesNotMatch": "The AccessKey secret is wrong: fix the alias (`agentctl config add`); for the "
                             "emulator use the `local` alias, which `agentctl local start` writes.",
    "IncompleteSignature": "The request did not sign x-acs-date and x-acs-signature-nonce; use agentctl or the SDK.",
    "InvalidTimeStamp.Expired": "This machine's clock is off by more than 15 minutes: sync it (NTP) and retry.",
    "InvalidTimeStamp.Format": "x-acs-date must look like 2025-01-31T12:00:00Z; use agentctl or the SDK to sign.",
    "SignatureNonceUsed": "The request was replayed; run the command again (each call gets a fresh nonce).",
    "ERR_VALIDATION_FAILED": "Fix the field named in the message (s.yaml or the flags), then retry.",
    "ERR_BAD_REQUEST": "Fix the request as the message says, then retry.",
}
_STATUS_HINTS = {
    400: "Fix the value the message names (in s.yaml or the flags), then retry.",
    401: "Check the credentials of the alias in use (`agentctl config get`).",
    403: "Check that the alias's keys may use AgentRun in this account and region.",
    404: "Check the name or id; `agentctl info` lists what exists.",
    409: "The resource already exists or is busy (CREATING/UPDATING); wait for it to settle and retry.",
    413: "The request is too large: make the code package smaller (exclude files in .arignore).",
    429: "The API throttled the call; wait a little and retry.",
    507: "The emulator's disk is full: free space under $AGENTCTL_HOME/emulator, then retry.",
}


def base_url(endpoint: str) -> str:
    """``http(s)://host[:port]`` for an endpoint given with or without a scheme."""
    endpoint = endpoint.strip().rstrip("/")
    if "://" in endpoint:
        return endpoint
    host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
    return f"{'http' if host in _LOOPBACK else 'https'}://{endpoint}"


def cloud_endpoint(region: str) -> str:
    return f"agentrun.{region}.aliyuncs.com"


class AcsAuth(httpx.Auth):
    """Signs the final request (path, query, body and headers as they go on the wire)."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, security_token: str | None = None) -> None:
        self.key_id, self.secret, self.security_token = key_id, secret, security_token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
        to_sign = {k: v for k, v in request.headers.items()
                   if (k in _SIGNED or k.startswith("x-acs-")) and k != "authorization"}
        request.headers.update(sign(request.method, path, request.url.params.multi_items(), to_sign,
                                    request.content, self.key_id, self.secret,
                                    security_token=self.security_token))
        yield request


def mask(value: Any) -> Any:
    """A copy of JSON data fit for a debug log: secrets hidden, ``zipFile`` replaced by its size."""
    if isinstance(value, dict):
        return {k: _mask_field(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def _mask_field(key: str, value: Any) -> Any:
    if key == "zipFile" and isinstance(value, str):
        return f"<{len(value)} base64 chars>"
    if _SECRET_KEY.search(key) and isinstance(value, str | int | float) and value != "":
        return "***"
    return mask(value)


def _shorten(text: str) -> str:
    return text if len(text) <= _DEBUG_LIMIT else text[:_DEBUG_LIMIT] + f"… ({len(text)} chars)"


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


class SignedSession:
    """One httpx client with ACS3 signing, error mapping and debug logging; shared by API clients."""

    def __init__(self, endpoint: str, credentials: Credentials, *, api_version: str = API_VERSION,
                 debug: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 log: Callable[[str], None] = _stderr, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url, self.api_version, self.debug, self._log = base_url(endpoint), api_version, debug, log
        auth = AcsAuth(credentials.access_key_id, credentials.access_key_secret, credentials.security_token)
        loopback = urlsplit(self.base_url).hostname in _LOOPBACK
        # A corporate HTTP(S)_PROXY must not capture calls to the local emulator.
        self._http = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout, transport=transport,
                                  trust_env=not loopback,
                                  headers={"accept": "application/json", "user-agent": "agentctl"})

    def close(self) -> None:
        self._http.close()

    def call(self, action: str, method: str, path: str, *, query: dict[str, Any] | None = None,
             body: Any = None) -> Any:
        """Send one signed call; return the parsed JSON reply (None when empty)."""
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"x-acs-action": action, "x-acs-version": self.api_version}
        if content is not None:
            headers["content-type"] = "application/json; charset=utf-8"
        request = self._http.build_request(method, path, params=params, content=content, headers=headers)
        if self.debug:
            self._log(f"[debug] → {method} {request.url} ({action})")
            if body is not None:
                self._log(f"[debug]   body: {_shorten(json.dumps(mask(body), ensure_ascii=False))}")
        started = time.monotonic()
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            raise TimedOut(f"{action}: no reply from {self.base_url} within the timeout",
                           hint=self._reach_hint()) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"{action}: cannot reach {self.base_url} ({type(exc).__name__}: {exc})",
                               hint=self._reach_hint()) from exc
        reply = _json(response)
        if self.debug:
            shown = json.dumps(mask(reply), ensure_ascii=False) if reply is not None else response.text
            self._log(f"[debug] ← {response.status_code} in {(time.monotonic() - started) * 1000:.0f} ms: "
                      f"{_shorten(shown)}")
        if response.status_code >= 400:
            raise _api_error(action, response, reply)
        if reply is None and response.content:
            raise BackendError(f"{action}: {self.base_url} replied with non-JSON content",
                               hint="Check that the endpoint is an AgentRun API endpoint (run with --debug).")
        return reply

    def _reach_hint(self) -> str:
        if urlsplit(self.base_url).hostname in _LOOPBACK:
            return "Is the emulator running? Start it with `agentctl local start` (see `agentctl local status`)."
        return f"Check the network and the endpoint {self.base_url} (the alias's Region/Endpoint)."


def _json(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _api_error(action: str, response: httpx.Response, reply: Any) -> ApiError:
    """Build ApiError from either error shape: {code, message, requestId} or FC's {Code, Message, RequestId}."""
    err = reply if isinstance(reply, dict) else {}
    status = response.status_code
    code = str(err.get("code") or err.get("Code") or f"HTTP{status}")
    message = str(err.get("message") or err.get("Message") or response.text[:200] or response.reason_phrase)
    request_id = err.get("requestId") or err.get("RequestId") or response.headers.get("x-acs-request-id")
    hint = _HINTS.get(code) or _STATUS_HINTS.get(status) or (
        "The service failed; retry, and run with --debug to see the call." if status >= 500 else None)
    return ApiError(status, code, f"{action} failed: {message}", request_id, hint=hint)


class AgentRunClient:
    """The twelve AgentRun 2025-09-10 runtime operations; each returns the reply's ``data`` (SDK field names)."""

    def __init__(self, endpoint: str, credentials: Credentials, *, debug: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, log: Callable[[str], None] = _stderr,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.session = SignedSession(endpoint, credentials, debug=debug, timeout=timeout, log=log,
                                     transport=transport)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> AgentRunClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _op(self, name: str, *, query: dict[str, Any] | None = None, body: Any = None, **ids: str) -> Any:
        op = OPERATION[name]
        reply = self.session.call(op.name, op.method, op.path(**ids), query=query, body=body)
        return reply.get("data") if isinstance(reply, dict) else None

    def _all(self, name: str, query: dict[str, Any] | None = None, **ids: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page_number in range(1, 10_000):  # bounded: a server that never ends its pages cannot hang us
            page = self._op(name, query={**(query or {}), "pageNumber": page_number, "pageSize": PAGE_SIZE}, **ids)
            batch = (page or {}).get("items") or []
            items.extend(batch)
            total = (page or {}).get("total")
            if len(batch) < PAGE_SIZE or (isinstance(total, int) and len(items) >= total):
                break
        return items

    # runtimes
    def create_agent_runtime(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._op("CreateAgentRuntime", body=body)

    def update_agent_runtime(self, runtime_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._op("UpdateAgentRuntime", body=body, agentRuntimeId=runtime_id)

    def get_agent_runtime(self, runtime_id: str, version: str | None = None) -> dict[str, Any]:
        return self._op("GetAgentRuntime", query={"agentRuntimeVersion": version}, agentRuntimeId=runtime_id)

    def list_agent_runtimes(self, name: str | None = None) -> list[dict[str, Any]]:
        return self._all("ListAgentRuntimes", {"agentRuntimeName": name})

    def delete_agent_runtime(self, runtime_id: str) -> dict[str, Any]:
        return self._op("DeleteAgentRuntime", agentRuntimeId=runtime_id)

    # versions
    def publish_runtime_version(self, runtime_id: str, description: str | None = None) -> dict[str, Any]:
        body = {} if description is None else {"description": description}
        return self._op("PublishRuntimeVersion", body=body, agentRuntimeId=runtime_id)

    def list_agent_runtime_versions(self, runtime_id: str) -> list[dict[str, Any]]:
        return self._all("ListAgentRuntimeVersions", agentRuntimeId=runtime_id)

    # endpoints
    def create_agent_runtime_endpoint(self, runtime_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._op("CreateAgentRuntimeEndpoint", body=body, agentRuntimeId=runtime_id)

    def update_agent_runtime_endpoint(self, runtime_id: str, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._op("UpdateAgentRuntimeEndpoint", body=body, agentRuntimeId=runtime_id,
                        agentRuntimeEndpointId=endpoint_id)

    def get_agent_runtime_endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
        return self._op("GetAgentRuntimeEndpoint", agentRuntimeId=runtime_id, agentRuntimeEndpointId=endpoint_id)

    def list_agent_runtime_endpoints(self, runtime_id: str, name: str | None = None) -> list[dict[str, Any]]:
        return self._all("ListAgentRuntimeEndpoints", {"endpointName": name}, agentRuntimeId=runtime_id)

    def delete_agent_runtime_endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
        return self._op("DeleteAgentRuntimeEndpoint", agentRuntimeId=runtime_id, agentRuntimeEndpointId=endpoint_id)

