"""Helpers for tests that need a real emulator daemon: a zip of code, an official SDK client."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from agentctl.access import AccessStore
from agentctl.build.package import checksum
from agentctl.emulator import daemon
from agentctl.emulator.daemon import DaemonInfo

# A real server (endpoints are health-checked before they take traffic); TAG tells code versions apart.
APP = """import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
TAG = {tag!r}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = TAG.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
"""


def code_zip(tag: str = "v1", *, app: str | None = None, name: str = "app.py") -> bytes:
    """A zip of ``app`` (default: the tagged server above)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, app if app is not None else APP.format(tag=tag))
    return buffer.getvalue()


def code_configuration(zip_bytes: bytes) -> dict[str, object]:
    """The SDK's CodeConfiguration map for a zip, with its CRC-64 checksum."""
    return {"zipFile": base64.b64encode(zip_bytes).decode(), "checksum": checksum(zip_bytes),
            "language": "python3.12", "command": ["python3", "app.py"]}


def sdk_client(info: DaemonInfo, secret: str | None = None):  # type: ignore[no-untyped-def]  # SDK is untyped
    """The official AgentRun SDK pointed at the emulator with the `local` keys (or a wrong ``secret``)."""
    from alibabacloud_agentrun20250910.client import Client
    from alibabacloud_tea_openapi.models import Config

    creds = AccessStore().get("local")
    assert creds is not None, "the daemon writes the `local` alias at start-up"
    return Client(Config(access_key_id=creds.access_key_id, access_key_secret=secret or creds.access_key_secret,
                         endpoint=f"127.0.0.1:{info.control_port}", protocol="HTTP", read_timeout=30000,
                         connect_timeout=5000))


@contextmanager
def running_daemon() -> Iterator[DaemonInfo]:
    """A daemon for the test's AGENTCTL_HOME, terminated by pid afterwards (whatever the environment is then)."""
    info = daemon.ensure_running()
    try:
        yield info
    finally:
        daemon.terminate(info.pid)


def wait_endpoint_ready(client, runtime_id: str, endpoint_id: str):  # type: ignore[no-untyped-def]
    """Poll an endpoint until it leaves CREATING/UPDATING (its versions' health check); returns it."""
    import time

    for _ in range(600):
        endpoint = client.get_agent_runtime_endpoint(runtime_id, endpoint_id).body.data
        if endpoint.status not in ("CREATING", "UPDATING"):
            return endpoint
        time.sleep(0.05)
    raise AssertionError(f"endpoint {endpoint_id} stayed {endpoint.status}")
