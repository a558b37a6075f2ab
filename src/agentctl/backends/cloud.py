"""The cloud backend: the AgentRun service at ``agentrun.<region>.aliyuncs.com``.

There is no live cloud in tests; what is unit-tested is the choice of control
URL (an alias ``Endpoint`` overrides the regional one) and that an endpoint's
invoke URL is the public URL the API reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentctl.backends.base import Backend
from agentctl.errors import BackendError

if TYPE_CHECKING:
    from agentctl.access import Credentials

DEFAULT_REGION = "cn-hangzhou"


class CloudBackend(Backend):
    kind = "cloud"

    def invoke_url(self, runtime: Mapping[str, Any], endpoint: Mapping[str, Any]) -> str:
        url = endpoint.get("endpointPublicUrl")
        if not url:
            raise BackendError(
                f"endpoint {endpoint.get('agentRuntimeEndpointName')} of {runtime.get('agentRuntimeName')} "
                "has no public URL",
                hint="It may still be starting, or public access is disabled; check `agentctl endpoint get`.")
        return str(url).rstrip("/")


def cloud_region(spec_region: str | None, credentials: Credentials | None) -> str:
    """s.yaml's region, else the alias's, else the default region."""
    return spec_region or (credentials.region if credentials else None) or DEFAULT_REGION


def control_url(region: str, credentials: Credentials) -> str:
    """The control API base URL: the alias's ``Endpoint`` when set, else the regional service."""
    if credentials.endpoint:
        endpoint = credentials.endpoint.rstrip("/")
        return endpoint if "://" in endpoint else f"https://{endpoint}"
    return f"https://agentrun.{region}.aliyuncs.com"
