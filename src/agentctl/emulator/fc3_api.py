"""The FC3-shaped routes of the emulator's control port that read the data plane.

``ListInstances`` (``GET /2023-03-30/functions/agentrun-<runtimeId>/instances?qualifier=``) answers the FC3
``InstanceInfo`` list, plus two emulator fields that ``instance list`` shows: ``inFlight`` and
``lastUsedTimeMs``. Requests are signed like every control request (the control app's middleware).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from agentctl.emulator.control import REQUEST_ID_HEADER, new_request_id
from agentctl.emulator.instance import Instance
from agentctl.emulator.pool import InstancePool

FUNCTION_PREFIX = "agentrun-"
INSTANCES_PATH = "/2023-03-30/functions/{functionName}/instances"


def instance_info(instance: Instance) -> dict[str, Any]:
    idle_seconds = time.monotonic() - instance.last_used
    return {
        "instanceId": instance.id,
        "versionId": instance.spec.version,
        "qualifier": instance.spec.version,
        "status": instance.status.value,
        "createdTimeMs": int(instance.started_at * 1000),
        "inFlight": instance.in_flight,
        "lastUsedTimeMs": int((time.time() - idle_seconds) * 1000),
    }


def mount_fc3_api(app: web.Application, pool: InstancePool) -> None:
    async def list_instances(request: web.Request) -> web.Response:
        function = request.match_info["functionName"]
        runtime_id = function.removeprefix(FUNCTION_PREFIX)
        qualifier = request.query.get("qualifier")
        found = [instance_info(i) for i in pool.instances()
                 if i.spec.runtime_id == runtime_id and i.alive and (not qualifier or i.spec.version == qualifier)]
        request_id = new_request_id()
        return web.json_response({"instances": found, "requestId": request_id},
                                  headers={REQUEST_ID_HEADER: request_id})

    app.router.add_get(INSTANCES_PATH, list_instances)
