"""Lifecycle operations after deploy: describe, publish versions, move endpoint traffic, remove.

Each function takes a ``Backend`` and a runtime (as the API returns it) and
does the checks that make bad input fail before anything changes: unknown
versions, invalid weights, a ``--weight`` on an endpoint that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentctl.backends.base import Backend
from agentctl.deploy.endpoints import PublishRequest, describe_split, missing_versions, plan_publish, routing_of
from agentctl.deploy.execute import SilentReporter, wait_endpoint
from agentctl.errors import ApiError, BadInput, NotFound


def runtime_summary(backend: Backend, runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The agent as deploy and info print it, the fields and order of the guide's `s info`."""
    runtime_id = str(runtime["agentRuntimeId"])
    return {
        "id": runtime_id,
        "arn": runtime.get("agentRuntimeArn"),
        "name": runtime.get("agentRuntimeName"),
        "description": runtime.get("description"),
        "artifactType": runtime.get("artifactType"),
        "status": runtime.get("status"),
        "resources": {"cpu": runtime.get("cpu"), "memory": runtime.get("memory"), "port": runtime.get("port")},
        "timestamps": {"createdAt": runtime.get("createdAt"), "lastUpdatedAt": runtime.get("lastUpdatedAt")},
        "region": backend.region,
        "endpoints": [
            {"id": ep.get("agentRuntimeEndpointId"), "name": ep.get("agentRuntimeEndpointName"),
             "url": backend.invoke_url(runtime, ep)}
            for ep in backend.endpoints(runtime_id)
        ],
    }


def endpoint_row(backend: Backend, runtime: Mapping[str, Any], endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """One endpoint for `endpoint list/get`: its routing and the split in words."""
    routing = routing_of(endpoint)
    return {
        "name": endpoint.get("agentRuntimeEndpointName"),
        "id": endpoint.get("agentRuntimeEndpointId"),
        "targetVersion": routing.target,
        "versionWeights": [{"version": v, "weight": w} for v, w in routing.weights],
        "traffic": describe_split(routing),
        "status": endpoint.get("status"),
        "description": endpoint.get("description"),
        "url": backend.invoke_url(runtime, endpoint),
    }


def version_row(version: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": version.get("agentRuntimeVersion"),
        "description": version.get("description"),
        "lastUpdatedAt": version.get("lastUpdatedAt"),
    }


def publish_version(backend: Backend, runtime: Mapping[str, Any], description: str | None) -> dict[str, Any]:
    """Freeze LATEST as the next version. Publishing nothing new is refused, naming the last version."""
    runtime_id = str(runtime["agentRuntimeId"])
    try:
        return backend.client.publish_runtime_version(runtime_id, description)
    except ApiError as err:
        if err.status not in (400, 409):
            raise
        versions = backend.versions(runtime_id)
        last = versions[-1].get("agentRuntimeVersion") if versions else None
        hint = (f"Version {last} already holds this code and configuration: change the code or s.yaml and "
                "deploy first, or route traffic to it with `agentctl endpoint publish`." if last else err.hint)
        raise BadInput(f"cannot publish a new version of {runtime.get('agentRuntimeName')}: {err.message}",
                       hint=hint) from err


def publish_endpoint(backend: Backend, runtime: Mapping[str, Any], request: PublishRequest,
                     declared: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """`endpoint publish`: the endpoints ``plan_publish`` changes (created when missing), the named one first.

    Everything is checked before the first call: versions, weights, which endpoint is the primary.
    """
    runtime_id = str(runtime["agentRuntimeId"])
    existing = {str(ep.get("agentRuntimeEndpointName")): ep for ep in backend.endpoints(runtime_id)}
    changes = plan_publish(request, {name: routing_of(ep) for name, ep in existing.items()}, declared)
    published = [str(v.get("agentRuntimeVersion")) for v in backend.versions(runtime_id)]
    missing = missing_versions([change.routing for change in changes], published)
    if missing:
        known = ", ".join(published) or "none yet"
        raise NotFound(f"version {missing[0]} of {runtime.get('agentRuntimeName')} does not exist "
                       f"(published: {known})",
                       hint="Publish it with `agentctl version publish`, or use LATEST.")
    results = []
    for change in changes:
        current = existing.get(change.name)
        if current is None:
            changed = backend.client.create_agent_runtime_endpoint(runtime_id, change.to_api())
        else:
            changed = backend.client.update_agent_runtime_endpoint(
                runtime_id, str(current["agentRuntimeEndpointId"]), change.to_api())
        # New versions take traffic only after their health check: wait for it before the next change (a
        # failure raises with the reason, and the endpoints not yet changed keep their traffic).
        results.append(wait_endpoint(backend, runtime_id, str(changed["agentRuntimeEndpointId"]), change.name,
                                     SilentReporter()))
    return results


def remove_endpoint(backend: Backend, runtime: Mapping[str, Any], name: str) -> None:
    endpoint = backend.require_endpoint(runtime, name)
    backend.client.delete_agent_runtime_endpoint(str(runtime["agentRuntimeId"]),
                                                 str(endpoint["agentRuntimeEndpointId"]))


def remove_runtime(backend: Backend, runtime: Mapping[str, Any], say: Callable[[str], None]) -> None:
    """Delete every endpoint of the runtime, then the runtime itself."""
    runtime_id = str(runtime["agentRuntimeId"])
    for endpoint in backend.endpoints(runtime_id):
        say(f"• delete endpoint {endpoint.get('agentRuntimeEndpointName')}")
        backend.client.delete_agent_runtime_endpoint(runtime_id, str(endpoint["agentRuntimeEndpointId"]))
    say(f"• delete agent runtime {runtime.get('agentRuntimeName')}")
    backend.client.delete_agent_runtime(runtime_id)
