"""The control API checks the signature before it reads a body, and bounds what it parses (issue #9, items 4, 9).

A real daemon on loopback and raw sockets (so the test decides how much of a body is sent):

- an unsigned (or wrongly signed) POST that declares a 500 MB body is refused with 401/403 as soon as its
  headers are in: the daemon never waits for, nor holds, the body;
- a signed request whose body does not match its signed ``x-acs-content-sha256`` gets 403;
- a signed request without a declared content hash may carry at most 1 MiB (413 beyond);
- a JSON body nested 100,000 levels deep is a 400 naming the limit, not a 500.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from daemon_support import running_daemon

from agentctl.access import AccessStore
from agentctl.api.signing import sign
from agentctl.emulator import daemon

PATH = "/2025-09-10/agents/runtimes"
READ_TIMEOUT = 30.0  # bounded: a daemon that waits for the whole body fails the test instead of hanging it


@pytest.fixture
def emulator() -> Iterator[daemon.DaemonInfo]:
    with running_daemon() as info:
        yield info


def exchange(info: daemon.DaemonInfo, head: dict[str, str], body: bytes, *, declared: int | None = None
             ) -> tuple[int, dict[str, object]]:
    """Send the head and ``body`` (a ``declared`` Content-Length may promise more), read the answer."""
    lines = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{info.control_port}",
             f"Content-Length: {declared if declared is not None else len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in head.items())]
    with socket.create_connection(("127.0.0.1", info.control_port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, payload = data.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), json.loads(payload or b"{}")


def _complete(data: bytes) -> bool:
    head, _, payload = data.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(payload) >= int(line.split(":")[1])
    return False


def signed_headers(info: daemon.DaemonInfo, body: bytes, *, declare_hash: bool = True) -> dict[str, str]:
    creds = AccessStore().get("local")
    assert creds is not None
    headers = sign("POST", PATH, {}, {"host": f"127.0.0.1:{info.control_port}", "x-acs-action": "CreateAgentRuntime",
                                      "x-acs-version": "2025-09-10", "content-type": "application/json"},
                   body, creds.access_key_id, creds.access_key_secret)
    headers.pop("host", None)
    if not declare_hash:
        headers.pop("x-acs-content-sha256")
    return headers


def test_unsigned_and_badly_signed_huge_bodies_are_refused_before_the_body_is_read(
        emulator: daemon.DaemonInfo) -> None:
    huge = 500 * 1024 * 1024
    status, body = exchange(emulator, {"content-type": "application/json"}, b"x" * 65536, declared=huge)
    assert status == 401 and body["code"]

    forged = {**signed_headers(emulator, b"{}"), "x-acs-content-sha256": "0" * 64}  # signature no longer fits
    status, body = exchange(emulator, forged, b"x" * 65536, declared=huge)
    assert status == 403 and body["code"] == "SignatureDoesNotMatch"


def test_a_signed_request_whose_body_is_not_the_signed_one_is_refused(emulator: daemon.DaemonInfo) -> None:
    headers = signed_headers(emulator, b'{"agentRuntimeName": "a"}')
    status, body = exchange(emulator, headers, b'{"agentRuntimeName": "b"}')
    assert status == 403 and body["code"] == "SignatureDoesNotMatch"


def test_without_a_declared_hash_at_most_one_mib_is_read(emulator: daemon.DaemonInfo) -> None:
    big = b'{"description": "' + b"d" * (2 * 1024 * 1024) + b'"}'
    status, body = exchange(emulator, signed_headers(emulator, big, declare_hash=False), big[:65536],
                            declared=len(big))
    assert status == 413 and "x-acs-content-sha256" in str(body["message"])


def test_a_deeply_nested_json_body_is_a_400_naming_the_limit(emulator: daemon.DaemonInfo) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body = exchange(emulator, signed_headers(emulator, deep), deep)
    assert status == 400 and body["code"] == "InvalidParameter" and "nested" in str(body["message"])
