"""The Backend interface: the twelve control operations plus the look-ups every command needs.

Commands never page or poll the API themselves: they ask a backend for
``find_runtime(name)``, ``endpoints(id)``, ``versions(id)`` and so on. The two
implementations only add where the client points and how an endpoint's
invoke URL is formed (``invoke_url``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentctl.errors import NotFound

if TYPE_CHECKING:
    from agentctl.api.client import AgentRunClient


class Backend(ABC):
    """One place runtimes live. ``kind`` is ``local`` or ``cloud``; ``client`` does the API calls."""

    kind: str

    def __init__(self, client: AgentRunClient, *, region: str, alias: str, account_id: str | None = None) -> None:
        self.client = client
        self.region = region
        self.alias = alias
        self.account_id = account_id  # for `role: name` → acs:ram::<AccountID>:role/name

    @abstractmethod
    def invoke_url(self, runtime: Mapping[str, Any], endpoint: Mapping[str, Any]) -> str:
        """The base URL that serves ``endpoint`` (requests go to ``<url>/<path>``)."""

    def describe(self) -> str:
        return f"{self.kind} ({self.region}, access {self.alias})"

    # --- look-ups ------------------------------------------------------------------------------

    def find_runtime(self, name: str) -> dict[str, Any] | None:
        """The runtime called exactly ``name`` (the API's name filter may match more), or None."""
        for runtime in self.client.list_agent_runtimes(name=name):
            if runtime.get("agentRuntimeName") == name:
                return runtime
        return None

    def require_runtime(self, name: str) -> dict[str, Any]:
        runtime = self.find_runtime(name)
        if runtime is None:
            raise NotFound(f"no agent runtime named {name!r} on the {self.kind} backend",
                           hint="Deploy it first: `agentctl deploy` (check -t/-a and --backend).")
        return runtime

    def endpoints(self, runtime_id: str) -> list[dict[str, Any]]:
        return list(self.client.list_agent_runtime_endpoints(runtime_id))

    def find_endpoint(self, runtime_id: str, name: str) -> dict[str, Any] | None:
        return next((ep for ep in self.endpoints(runtime_id) if ep.get("agentRuntimeEndpointName") == name), None)

    def require_endpoint(self, runtime: Mapping[str, Any], name: str) -> dict[str, Any]:
        endpoint = self.find_endpoint(str(runtime["agentRuntimeId"]), name)
        if endpoint is None:
            known = ", ".join(str(ep.get("agentRuntimeEndpointName")) for ep in
                              self.endpoints(str(runtime["agentRuntimeId"]))) or "none"
            raise NotFound(f"runtime {runtime.get('agentRuntimeName')} has no endpoint {name!r} (known: {known})",
                           hint="List them with `agentctl endpoint list`; create one with `agentctl endpoint publish`.")
        return endpoint

    def versions(self, runtime_id: str) -> list[dict[str, Any]]:
        """Published versions, oldest first."""
        items = list(self.client.list_agent_runtime_versions(runtime_id))
        return sorted(items, key=lambda v: _version_number(v.get("agentRuntimeVersion")))


def _version_number(value: object) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() else 0
