"""The Function Compute 3.0 (2023-03-30) subset agentctl uses: instances, concurrency and exec.

An AgentRun runtime runs as the FC function ``agentrun-<runtimeId>``. Shapes and paths are those of
the official SDK ``alibabacloud_fc20230330`` (function names percent-encoded with ``safe=''``).
FC3 replies are not enveloped: the body is the resource itself; errors are ``{Code, Message, RequestId}``
(``SignedSession`` maps both error shapes)::

    ListInstances            GET    /2023-03-30/functions/{functionName}/instances    query qualifier, withAllActive,
                                    instanceIds (JSON array), instanceStatus (JSON array), limit, startKey, …
                                    → {instances: [InstanceInfo], requestId}
    GetConcurrencyConfig     GET    /2023-03-30/functions/{functionName}/concurrency  → ConcurrencyConfig
    PutConcurrencyConfig     PUT    /2023-03-30/functions/{functionName}/concurrency  body {reservedConcurrency}
                                    → ConcurrencyConfig
    DeleteConcurrencyConfig  DELETE /2023-03-30/functions/{functionName}/concurrency  → empty body

Exec is a WebSocket (GET upgrade) at ``/2023-03-30/functions/{functionName}/instances/{instanceId}/exec``
with the query ``command`` (repeated, one per argv element), ``stdin``, ``stdout``, ``stderr``, ``tty``
(``true``/``false``), ``qualifier`` and ``idleTimeout`` (seconds). Frames carry a type byte first:
0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, 5 close (DESIGN §5). The emulator serves the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlencode, urlsplit

from agentctl.access import Credentials
from agentctl.api.models import Operation
from agentctl.api.signing import sign

if TYPE_CHECKING:
    import httpx

FC3_VERSION = "2023-03-30"
_FN = f"/{FC3_VERSION}/functions/{{functionName}}"
EXEC_PATH = _FN + "/instances/{instanceId}/exec"


class InstanceInfo(TypedDict, total=False):
    instanceId: str
    versionId: str
    qualifier: str
    status: str             # e.g. Running
    resourceType: str
    createdTimeMs: int
    destroyedTimeMs: int


class ListInstancesOutput(TypedDict, total=False):
    instances: list[InstanceInfo]
    requestId: str


class ConcurrencyConfig(TypedDict, total=False):
    functionArn: str
    reservedConcurrency: int


class PutConcurrencyInput(TypedDict):
    reservedConcurrency: int


OPERATIONS: tuple[Operation, ...] = (
    Operation("ListInstances", "GET", _FN + "/instances", data="ListInstancesOutput", query=(
        "qualifier", "withAllActive", "instanceIds", "instanceStatus", "limit", "startKey", "startTimeMs",
        "endTimeMs")),
    Operation("GetConcurrencyConfig", "GET", _FN + "/concurrency", data="ConcurrencyConfig"),
    Operation("PutConcurrencyConfig", "PUT", _FN + "/concurrency", body="PutConcurrencyInput",
              data="ConcurrencyConfig"),
    Operation("DeleteConcurrencyConfig", "DELETE", _FN + "/concurrency", data="None"),
)
OPERATION: dict[str, Operation] = {op.name: op for op in OPERATIONS}
OPERATION_EXEC = Operation("InstanceExec", "GET", EXEC_PATH, data="None")


def function_name(runtime_id: str) -> str:
    """The FC function behind an AgentRun runtime."""
    return f"agentrun-{runtime_id}"


def management_endpoint(region: str) -> str:
    return f"fcv3.{region}.aliyuncs.com"


def account_endpoint(account_id: str, region: str) -> str:
    """The per-account FC endpoint (where exec connects)."""
    return f"{account_id}.{region}.fc.aliyuncs.com"


def exec_query(command: list[str], *, stdin: bool = True, stdout: bool = True, stderr: bool = True,
               tty: bool = False, qualifier: str | None = None, idle_timeout: int | None = None
               ) -> list[tuple[str, str]]:
    """The exec query as pairs (``command`` repeated per argv element, in order)."""
    flag = {True: "true", False: "false"}
    pairs = [("command", arg) for arg in command]
    pairs += [("stdin", flag[stdin]), ("stdout", flag[stdout]), ("stderr", flag[stderr]), ("tty", flag[tty])]
    if qualifier:
        pairs.append(("qualifier", qualifier))
    if idle_timeout is not None:
        pairs.append(("idleTimeout", str(idle_timeout)))
    return pairs


def exec_request(base: str, function: str, instance_id: str, query: list[tuple[str, str]],
                 credentials: Credentials) -> tuple[str, dict[str, str]]:
    """The ``ws(s)://`` URL and the signed headers for an exec WebSocket (``base`` is http(s)://host[:port])."""
    from agentctl.api.client import base_url  # httpx stays out of this module's import

    parts = urlsplit(base_url(base))
    path = OPERATION_EXEC.path(functionName=function, instanceId=instance_id)
    headers = sign("GET", path, query, {"host": parts.netloc, "x-acs-action": "InstanceExec",
                                        "x-acs-version": FC3_VERSION}, b"", credentials.access_key_id,
                   credentials.access_key_secret, security_token=credentials.security_token)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}?{urlencode(query)}", headers


class FC3Client:
    """ListInstances and the concurrency config of one region, over the shared signed session."""

    def __init__(self, endpoint: str, credentials: Credentials, *, debug: bool = False, timeout: float = 30.0,
                 log: Callable[[str], None] | None = None, transport: httpx.BaseTransport | None = None) -> None:
        from agentctl.api.client import SignedSession

        extra = {"log": log} if log else {}
        self.session = SignedSession(endpoint, credentials, api_version=FC3_VERSION, debug=debug,
                                     timeout=timeout, transport=transport, **extra)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FC3Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, name: str, function: str, *, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        op = OPERATION[name]
        return self.session.call(op.name, op.method, op.path(functionName=function), query=query, body=body)

    def list_instances(self, function: str, *, qualifier: str | None = None,
                       with_all_active: bool | None = None) -> list[InstanceInfo]:
        active = None if with_all_active is None else str(with_all_active).lower()
        reply = self._call("ListInstances", function, query={"qualifier": qualifier, "withAllActive": active})
        return list((reply or {}).get("instances") or [])

    def get_concurrency_config(self, function: str) -> ConcurrencyConfig:
        return self._call("GetConcurrencyConfig", function) or {}

    def put_concurrency_config(self, function: str, reserved: int) -> ConcurrencyConfig:
        return self._call("PutConcurrencyConfig", function, body={"reservedConcurrency": reserved}) or {}

    def delete_concurrency_config(self, function: str) -> None:
        self._call("DeleteConcurrencyConfig", function)
