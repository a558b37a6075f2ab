"""Typed views and the route table of the AgentRun 2025-09-10 runtime API.

Field names and shapes are those the official SDK (``alibabacloud_agentrun20250910``)
sends and reads (camelCase JSON). Resources are ``TypedDict``s with ``total=False``:
the wire data stays plain dicts, the types document and check the shapes.

Every reply is the envelope ``{code, data, requestId}`` (``code`` is ``SUCCESS``);
errors are 4xx/5xx ``{code, message, requestId}``. List replies carry
``data = {items, pageNumber, pageSize, total}``. Versions (``agentRuntimeVersion``,
``targetVersion``, ``versionWeights[].version``) are strings: ``"LATEST"`` or ``"1"``, ``"2"``, …

The twelve operations (all ROA, JSON body, header ``x-acs-action`` = the name,
``x-acs-version: 2025-09-10``; path ids are percent-encoded with ``safe=''``; ``R`` is
``/2025-09-10/agents/runtimes``)::

    CreateAgentRuntime          POST   R                      body CreateAgentRuntimeInput
    UpdateAgentRuntime          PUT    R/{id}                 body UpdateAgentRuntimeInput
    GetAgentRuntime             GET    R/{id}                 query agentRuntimeVersion
    ListAgentRuntimes           GET    R                      query agentRuntimeName, pageNumber, pageSize, status,
                                       searchMode, resourceGroupId, workspaceId, …
    DeleteAgentRuntime          DELETE R/{id}                 (data: the runtime)
    PublishRuntimeVersion       POST   R/{id}/versions        body {description, publisher}
    ListAgentRuntimeVersions    GET    R/{id}/versions        query pageNumber, pageSize
    CreateAgentRuntimeEndpoint  POST   R/{id}/endpoints       body CreateAgentRuntimeEndpointInput
    UpdateAgentRuntimeEndpoint  PUT    R/{id}/endpoints/{eid} body UpdateAgentRuntimeEndpointInput
    GetAgentRuntimeEndpoint     GET    R/{id}/endpoints/{eid}
    ListAgentRuntimeEndpoints   GET    R/{id}/endpoints       query endpointName, pageNumber, pageSize, searchMode
    DeleteAgentRuntimeEndpoint  DELETE R/{id}/endpoints/{eid} (data: the endpoint)

``OPERATIONS`` holds this table in code for the client and the emulator's server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Literal, TypedDict, TypeVar
from urllib.parse import quote, unquote

API_VERSION = "2025-09-10"
PREFIX = f"/{API_VERSION}/agents/runtimes"
LATEST = "LATEST"

RuntimeStatus = Literal["CREATING", "CREATE_FAILED", "READY", "UPDATING", "UPDATE_FAILED", "DELETING", "FAILED"]


class CodeConfiguration(TypedDict, total=False):
    checksum: str           # CRC-64 of the zip, as a decimal string
    command: list[str]
    language: str           # python3.10 | python3.12 | nodejs18 | nodejs20 | java8 | java11 | java17 | custom
    ossBucketName: str
    ossObjectName: str
    zipFile: str            # base64 of the zip


class ContainerConfiguration(TypedDict, total=False):
    acrInstanceId: str
    command: list[str]
    image: str
    imageRegistryType: str
    port: int
    registryConfig: dict[str, Any]


class HealthCheckConfiguration(TypedDict, total=False):
    failureThreshold: int
    httpGetUrl: str
    initialDelaySeconds: int
    periodSeconds: int
    successThreshold: int
    timeoutSeconds: int


class NetworkConfiguration(TypedDict, total=False):
    networkMode: str
    securityGroupId: str
    vpcId: str
    vswitchIds: list[str]


class LogConfiguration(TypedDict, total=False):
    logstore: str
    project: str


class VersionWeight(TypedDict):
    version: str
    weight: float


class RoutingConfiguration(TypedDict, total=False):
    versionWeights: list[VersionWeight]


class _RuntimeConfig(TypedDict, total=False):
    """Fields shared by the runtime resource and its create/update inputs."""

    agentRuntimeName: str
    artifactType: Literal["Code", "Container"]
    codeConfiguration: CodeConfiguration
    containerConfiguration: ContainerConfiguration
    cpu: float
    credentialName: str
    description: str
    disableOndemand: bool
    disableSessionAffinity: bool
    diskSize: int
    edition: str
    enableSessionIsolation: bool
    environmentVariables: dict[str, str]
    executionRoleArn: str
    externalAgentEndpointUrl: str
    headerFieldName: str
    healthCheckConfiguration: HealthCheckConfiguration
    logConfiguration: LogConfiguration
    memory: int
    nasConfig: dict[str, Any]
    networkConfiguration: NetworkConfiguration
    ossMountConfig: dict[str, Any]
    port: int
    protocolConfiguration: dict[str, Any]   # {type}
    sessionAffinityType: str                # NONE | HEADER_FIELD | GENERATED_COOKIE
    sessionConcurrencyLimitPerInstance: int
    sessionIdleTimeoutSeconds: int
    systemTags: list[str]
    workspaceId: str


class CreateAgentRuntimeInput(_RuntimeConfig, total=False):
    armsConfiguration: dict[str, Any]
    credentialId: str
    resourceGroupId: str


class UpdateAgentRuntimeInput(_RuntimeConfig, total=False):
    armsConfiguration: dict[str, Any]
    forceEvictInstances: bool


class AgentRuntime(_RuntimeConfig, total=False):
    agentRuntimeArn: str
    agentRuntimeId: str
    agentRuntimeVersion: str
    createdAt: str          # ISO 8601
    lastUpdatedAt: str
    resourceGroupId: str
    status: RuntimeStatus
    statusReason: str


class AgentRuntimeVersion(TypedDict, total=False):
    agentRuntimeArn: str
    agentRuntimeId: str
    agentRuntimeName: str
    agentRuntimeVersion: str
    description: str
    lastUpdatedAt: str


class PublishRuntimeVersionInput(TypedDict, total=False):
    description: str
    publisher: str


class _EndpointConfig(TypedDict, total=False):
    agentRuntimeEndpointName: str
    description: str
    disablePublicNetworkAccess: bool
    routingConfiguration: RoutingConfiguration
    targetVersion: str


class CreateAgentRuntimeEndpointInput(_EndpointConfig, total=False):
    scalingConfig: dict[str, Any]


class UpdateAgentRuntimeEndpointInput(_EndpointConfig, total=False):
    deleteScalingConfig: bool
    scalingConfig: dict[str, Any]


class AgentRuntimeEndpoint(_EndpointConfig, total=False):
    agentRuntimeEndpointArn: str
    agentRuntimeEndpointId: str
    agentRuntimeId: str
    endpointPublicUrl: str
    scalingStatus: dict[str, Any]   # {currentError, currentInstances, minInstances, targetInstances}
    status: str
    statusReason: str


T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    items: list[T]
    pageNumber: int
    pageSize: int
    total: int


class Envelope(TypedDict, Generic[T]):
    code: str       # "SUCCESS"
    data: T
    requestId: str


class ErrorBody(TypedDict):
    code: str
    message: str
    requestId: str


# --- route table -------------------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    """One API operation: its action name, HTTP method, path template and wire parameters."""

    name: str                       # the x-acs-action value
    method: str
    template: str                   # e.g. /2025-09-10/agents/runtimes/{agentRuntimeId}
    query: tuple[str, ...] = ()     # query names the SDK may send
    body: str | None = None         # name of the JSON body type, None when the request has no body
    data: str = "AgentRuntime"      # type of the reply's `data`
    paged: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.template))

    def path(self, **values: str) -> str:
        """The percent-encoded request path (ids encoded like the SDK's ``DaraURL.percent_encode``)."""
        return _PARAM.sub(lambda m: quote(str(values[m.group(1)]), safe="~"), self.template)

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The decoded path parameters when ``method raw_path`` is this operation, else None."""
        if method.upper() != self.method:
            return None
        found = self._regex.fullmatch(raw_path.split("?", 1)[0])
        return {k: unquote(v) for k, v in found.groupdict().items()} if found else None

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        parts = _PARAM.split(self.template)  # literal, name, literal, name, …
        return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts)))


_RT = PREFIX + "/{agentRuntimeId}"
_EP = _RT + "/endpoints/{agentRuntimeEndpointId}"
_PAGE = ("pageNumber", "pageSize")

OPERATIONS: tuple[Operation, ...] = (
    Operation("CreateAgentRuntime", "POST", PREFIX, body="CreateAgentRuntimeInput"),
    Operation("UpdateAgentRuntime", "PUT", _RT, body="UpdateAgentRuntimeInput"),
    Operation("GetAgentRuntime", "GET", _RT, query=("agentRuntimeVersion",)),
    Operation("ListAgentRuntimes", "GET", PREFIX, paged=True, query=(
        "agentRuntimeName", "discoveryResourceGroupId", *_PAGE, "resourceGroupId", "searchMode", "status",
        "systemTags", "workspaceId", "workspaceIds")),
    Operation("DeleteAgentRuntime", "DELETE", _RT),
    Operation("PublishRuntimeVersion", "POST", _RT + "/versions", body="PublishRuntimeVersionInput",
              data="AgentRuntimeVersion"),
    Operation("ListAgentRuntimeVersions", "GET", _RT + "/versions", query=_PAGE, data="AgentRuntimeVersion",
              paged=True),
    Operation("CreateAgentRuntimeEndpoint", "POST", _RT + "/endpoints", body="CreateAgentRuntimeEndpointInput",
              data="AgentRuntimeEndpoint"),
    Operation("UpdateAgentRuntimeEndpoint", "PUT", _EP, body="UpdateAgentRuntimeEndpointInput",
              data="AgentRuntimeEndpoint"),
    Operation("GetAgentRuntimeEndpoint", "GET", _EP, data="AgentRuntimeEndpoint"),
    Operation("ListAgentRuntimeEndpoints", "GET", _RT + "/endpoints", query=("endpointName", *_PAGE, "searchMode"),
              data="AgentRuntimeEndpoint", paged=True),
    Operation("DeleteAgentRuntimeEndpoint", "DELETE", _EP, data="AgentRuntimeEndpoint"),
)

OPERATION: dict[str, Operation] = {op.name: op for op in OPERATIONS}


def match_operation(method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
    """Find the operation for a request line (used by the emulator's router)."""
    for op in OPERATIONS:
        params = op.match(method, raw_path)
        if params is not None:
            return op, params
    return None
