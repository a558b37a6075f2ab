"""The props of ``component: agentrun`` as typed values, and their AgentRun API form.

``AgentSpec.from_props`` reads resolved props (``region``, ``agent``, ``build``) with
the defaults of DESIGN §2 applied; ``to_api`` maps them to the body of
CreateAgentRuntime/UpdateAgentRuntime with the SDK's wire names, as the
devsapp/agentrun component does:

    agent.name            → agentRuntimeName         instanceConcurrency → sessionConcurrencyLimitPerInstance
    role (bare name)      → executionRoleArn acs:ram::<AccountID>:role/<name>
    vpcConfig + internetAccess → networkConfiguration (networkMode PUBLIC | PRIVATE | PUBLIC_AND_PRIVATE)
    code                  → codeConfiguration (zipFile or ossBucketName/ossObjectName, language, command, checksum)
    customContainerConfig → containerConfiguration   logConfig → logConfiguration (`auto` is left out)

A local ``code.src`` cannot be put in the body by the model: the caller packs it and
passes ``zip_file`` (base64) or an uploaded OSS location to ``to_api``. Props are
expected to have passed ``validate``; what would make the model wrong raises BadInput.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentctl.errors import BadInput

LATEST = "LATEST"
DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_PORT, DEFAULT_CONCURRENCY = 1.0, 2048, 9000, 10
# The component fills these in when healthCheckConfiguration is given but a field is not.
HEALTH_DEFAULTS = {"httpGetUrl": "/health", "initialDelaySeconds": 30, "periodSeconds": 30, "timeoutSeconds": 3,
                   "failureThreshold": 3, "successThreshold": 1}
_HINT = "Run `agentctl verify` to see every problem of s.yaml."


def _bad(what: str) -> BadInput:
    return BadInput(f"props.agent: {what}", hint=_HINT)


def _number(agent: Mapping[str, Any], key: str, default: float | None, kind: type) -> Any:
    value = agent.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{key} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise _bad(f"{key} must be a whole number, got {value!r}")
    return kind(value)


def _argv(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # the component accepts one string as a one-word command
        return (value,)
    if not isinstance(value, list):
        raise _bad(f"{where}.command must be a list of strings")
    return tuple(str(word) for word in value)


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    version: str = LATEST  # "LATEST" or a version number as text ("1")
    weight: float | None = None  # share of the primary endpoint's traffic (0 < w < 1)
    description: str | None = None

    @classmethod
    def from_props(cls, data: Mapping[str, Any]) -> EndpointSpec:
        if not isinstance(data, Mapping) or not data.get("name"):
            raise _bad("every endpoint needs a name")
        version = data.get("version", LATEST)
        weight = data.get("weight")
        return cls(name=str(data["name"]), version=LATEST if version in (None, LATEST) else str(int(version)),
                   weight=None if weight is None else float(weight), description=data.get("description"))


@dataclass(frozen=True)
class CodeSpec:
    language: str
    command: tuple[str, ...] = ()
    src: str | None = None
    oss_bucket_name: str | None = None
    oss_object_name: str | None = None
    checksum: str | None = None

    @classmethod
    def from_props(cls, data: Mapping[str, Any]) -> CodeSpec:
        if not isinstance(data, Mapping) or not data.get("language"):
            raise _bad("code needs a language")
        spec = cls(language=str(data["language"]), command=_argv(data.get("command"), "code"), src=data.get("src"),
                   oss_bucket_name=data.get("ossBucketName"), oss_object_name=data.get("ossObjectName"),
                   checksum=None if data.get("checksum") is None else str(data["checksum"]))
        if not spec.src and not (spec.oss_bucket_name and spec.oss_object_name):
            raise _bad("code needs src, or ossBucketName and ossObjectName")
        return spec

    def to_api(self, zip_file: str | None = None, oss: tuple[str, str] | None = None) -> dict[str, Any]:
        bucket, obj = oss or (self.oss_bucket_name, self.oss_object_name)
        source = {"zipFile": zip_file} if zip_file else {"ossBucketName": bucket, "ossObjectName": obj}
        return _drop_none({"language": self.language, "command": list(self.command), "checksum": self.checksum,
                           **source})


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: tuple[str, ...] = ()
    port: int | None = None
    image_registry_type: str | None = None
    acr_instance_id: str | None = None
    registry_config: dict[str, Any] | None = None

    @classmethod
    def from_props(cls, data: Mapping[str, Any]) -> ContainerSpec:
        if not isinstance(data, Mapping) or not data.get("image"):
            raise _bad("customContainerConfig needs an image")
        return cls(image=str(data["image"]), command=_argv(data.get("command"), "customContainerConfig"),
                   port=_number(data, "port", None, int), image_registry_type=data.get("imageRegistryType"),
                   acr_instance_id=data.get("acrInstanceId"), registry_config=data.get("registryConfig"))

    def to_api(self, image: str | None = None) -> dict[str, Any]:
        return _drop_none({"image": image or self.image, "command": list(self.command), "port": self.port,
                           "imageRegistryType": self.image_registry_type, "acrInstanceId": self.acr_instance_id,
                           "registryConfig": self.registry_config})


@dataclass(frozen=True)
class BuildSpec:
    """``props.build``: agentctl's own build settings (Serverless Devs ignores them)."""

    image: str | None = None
    context: str | None = None
    dockerfile: str | None = None


@dataclass(frozen=True)
class AgentSpec:
    name: str
    region: str | None = None
    description: str | None = None
    code: CodeSpec | None = None
    container: ContainerSpec | None = None
    cpu: float = DEFAULT_CPU
    memory: int = DEFAULT_MEMORY
    disk_size: int | None = None
    port: int = DEFAULT_PORT
    instance_concurrency: int = DEFAULT_CONCURRENCY
    role_arn: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    vpc_config: dict[str, Any] | None = None
    internet_access: bool | None = None
    log_config: dict[str, Any] | str | None = None
    nas_config: dict[str, Any] | None = None
    oss_mount_config: dict[str, Any] | None = None
    health_check: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    session_affinity_type: str | None = None
    header_field_name: str | None = None
    session_idle_timeout_seconds: int | None = None
    enable_session_isolation: bool | None = None
    disable_session_affinity: bool | None = None
    credential_name: str | None = None
    endpoints: list[EndpointSpec] = field(default_factory=list)
    build: BuildSpec = field(default_factory=BuildSpec)

    @property
    def artifact_type(self) -> str:
        return "Code" if self.code is not None else "Container"

    @classmethod
    def from_props(cls, props: Mapping[str, Any], *, account_id: str | None = None) -> AgentSpec:
        """Typed props with defaults. A bare ``role`` becomes an ARN when ``account_id`` is known."""
        agent = props.get("agent") if isinstance(props, Mapping) else None
        if not isinstance(agent, Mapping) or not agent.get("name"):
            raise BadInput("props.agent.name is missing", hint=_HINT)
        if ("code" in agent) == ("customContainerConfig" in agent):
            raise _bad("give exactly one of code or customContainerConfig")
        build = props.get("build") or {}
        return cls(
            name=str(agent["name"]),
            region=props.get("region"),
            description=agent.get("description"),
            code=CodeSpec.from_props(agent["code"]) if "code" in agent else None,
            container=ContainerSpec.from_props(agent["customContainerConfig"]) if "code" not in agent else None,
            cpu=_number(agent, "cpu", DEFAULT_CPU, float),
            memory=_number(agent, "memory", DEFAULT_MEMORY, int),
            disk_size=_number(agent, "diskSize", None, int),
            port=_number(agent, "port", DEFAULT_PORT, int),
            instance_concurrency=_number(agent, "instanceConcurrency", DEFAULT_CONCURRENCY, int),
            role_arn=role_arn(agent.get("role"), account_id),
            environment_variables=_environment(agent.get("environmentVariables")),
            vpc_config=agent.get("vpcConfig"),
            internet_access=agent.get("internetAccess"),
            log_config=agent.get("logConfig"),
            nas_config=agent.get("nasConfig"),
            oss_mount_config=agent.get("ossMountConfig"),
            health_check=agent.get("healthCheckConfiguration"),
            protocol=agent.get("protocolConfiguration"),
            session_affinity_type=agent.get("sessionAffinityType"),
            header_field_name=agent.get("headerFieldName"),
            session_idle_timeout_seconds=_number(agent, "sessionIdleTimeoutSeconds", None, int),
            enable_session_isolation=agent.get("enableSessionIsolation"),
            disable_session_affinity=agent.get("disableSessionAffinity"),
            credential_name=agent.get("credentialName"),
            endpoints=[EndpointSpec.from_props(item) for item in agent.get("endpoints") or []],
            build=BuildSpec(image=build.get("image"), context=build.get("context"), dockerfile=build.get("dockerfile")),
        )

    def to_api(self, *, zip_file: str | None = None, oss: tuple[str, str] | None = None,
               image: str | None = None) -> dict[str, Any]:
        """The CreateAgentRuntimeInput body (also valid for UpdateAgentRuntime).

        ``zip_file`` (base64 of the code zip) or ``oss`` (bucket, object) give the code of a
        ``code.src`` project; ``image`` overrides the container image (e.g. a freshly built tag).
        """
        body = {
            "agentRuntimeName": self.name,
            "description": self.description,
            "artifactType": self.artifact_type,
            "codeConfiguration": self.code.to_api(zip_file, oss) if self.code else None,
            "containerConfiguration": self.container.to_api(image) if self.container else None,
            "cpu": self.cpu,
            "memory": self.memory,
            "diskSize": self.disk_size,
            "port": self.port,
            "sessionConcurrencyLimitPerInstance": self.instance_concurrency,
            "sessionIdleTimeoutSeconds": self.session_idle_timeout_seconds,
            "sessionAffinityType": self.session_affinity_type,
            "headerFieldName": self.header_field_name,
            "enableSessionIsolation": self.enable_session_isolation,
            "disableSessionAffinity": self.disable_session_affinity,
            "environmentVariables": dict(self.environment_variables),
            "executionRoleArn": self.role_arn,
            "credentialName": self.credential_name,
            "networkConfiguration": self.network_configuration(),
            "logConfiguration": self.log_config if isinstance(self.log_config, dict) else None,
            "nasConfig": self.nas_config,
            "ossMountConfig": self.oss_mount_config,
            "healthCheckConfiguration": {**HEALTH_DEFAULTS, **self.health_check} if self.health_check else None,
            "protocolConfiguration": self.protocol,
        }
        return _drop_none(body)

    def network_configuration(self) -> dict[str, Any]:
        """networkMode from vpcConfig and internetAccess (public unless told otherwise)."""
        public = self.internet_access is not False
        if not self.vpc_config:
            return {"networkMode": "PUBLIC" if public else "PRIVATE"}
        switches = self.vpc_config.get("vSwitchIds")
        return _drop_none({
            "networkMode": "PUBLIC_AND_PRIVATE" if public else "PRIVATE",
            "vpcId": self.vpc_config.get("vpcId"),
            "vswitchIds": [switches] if isinstance(switches, str) else switches,
            "securityGroupId": self.vpc_config.get("securityGroupId"),
        })


def role_arn(role: Any, account_id: str | None) -> str | None:
    """``MyRole`` → ``acs:ram::<account>:role/MyRole``; a full ARN, or a bare name without account, stays."""
    if not role:
        return None
    name = str(role)
    if name.startswith("acs:ram::") or not account_id:
        return name
    return f"acs:ram::{account_id}:role/{name}"


def _environment(values: Any) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise _bad("environmentVariables must map names to values")
    # The API takes strings; YAML easily yields numbers and booleans (`DEBUG: false` → "false").
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items() if v is not None}
