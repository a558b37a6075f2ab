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

APP = "import os\nprint('listening on', os.environ.get('PORT'))\n"


def code_zip(text: str = APP, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
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
