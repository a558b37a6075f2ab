"""The local backend: the emulator daemon on loopback, signed with the `local` alias keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agentctl.backends.base import Backend

if TYPE_CHECKING:
    from agentctl.api.client import AgentRunClient


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, client: AgentRunClient, *, region: str, gateway_url: str, alias: str = "local",
                 account_id: str | None = None) -> None:
        super().__init__(client, region=region, alias=alias, account_id=account_id)
        self.gateway_url = gateway_url.rstrip("/")

    def invoke_url(self, runtime: Mapping[str, Any], endpoint: Mapping[str, Any]) -> str:
        # The gateway serves the cloud's public URL shape on its own loopback port.
        return gateway_invoke_url(self.gateway_url, str(runtime.get("agentRuntimeName")),
                                  str(endpoint.get("agentRuntimeEndpointName")))

    def describe(self) -> str:
        return f"local emulator ({self.gateway_url})"


def gateway_invoke_url(gateway_url: str, runtime_name: str, endpoint_name: str) -> str:
    return (f"{gateway_url.rstrip('/')}/agent-runtimes/{quote(runtime_name, safe='')}"
            f"/endpoints/{quote(endpoint_name, safe='')}/invocations")
