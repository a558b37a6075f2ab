"""The exec WebSocket through a real control app on loopback, with real processes as the instance."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from agentctl.api import exec_client as proto
from agentctl.api.exec_client import Connection, run_command
from agentctl.api.fc3 import exec_query, exec_request
from agentctl.emulator.exec import ExecEnv
from agentctl.errors import AuthError, BackendError, NotFound
from exec_support import FUNCTION, StandIn, standin_daemon


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "code"
    directory.mkdir()
    return directory


@pytest.fixture
def standin(code_dir: Path) -> Iterator[StandIn]:
    env = {"PATH": os.environ["PATH"], "GREETING": "hello from the instance", "HOME": str(code_dir)}
    with standin_daemon({"c-one": ExecEnv(str(code_dir), env)}) as running:
        yield running


def connection(standin: StandIn, argv: list[str], *, instance: str = "c-one", tty: bool = False,
               stdin: bool = False, secret: str | None = None) -> Connection:
    creds = standin.credentials
    if secret is not None:
        from dataclasses import replace

        creds = replace(creds, access_key_secret=secret)
    url, headers = exec_request(standin.url, FUNCTION, instance, exec_query(argv, tty=tty, stdin=stdin or tty), creds)
    return Connection(url, headers, loopback=True)


def run(conn: Connection) -> tuple[int, bytes, bytes]:
    out, err = io.BytesIO(), io.BytesIO()
    code = asyncio.run(run_command(conn, marked=False, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


async def frames_until_close(ws: Any, *, send: Sequence[bytes] = (),
                             until: bytes | None = None) -> list[tuple[int, bytes]]:
    """Every frame the server sends; ``send`` goes out first (after ``until`` showed up on stdout when given)."""
    got: list[tuple[int, bytes]] = []
    pending = list(send)
    if until is None:
        for data in pending:
            await ws.send(data)
        pending = []
    async for message in ws:
        got.append((message[0], bytes(message[1:])))
        if pending and until is not None and until in b"".join(p for k, p in got if k == proto.STDOUT):
            for data in pending:
                await ws.send(data)
            pending = []
    return got


def test_command_prints_its_working_dir_and_exits_with_its_code(standin: StandIn, code_dir: Path) -> None:
    code, out, err = run(connection(standin, ["sh", "-c", "pwd; exit 3"]))
    assert (code, out, err) == (3, f"{code_dir}\n".encode(), b"")


def test_command_sees_the_instance_environment(standin: StandIn) -> None:
    code, out, _ = run(connection(standin, ["sh", "-c", 'echo "$GREETING"']))
    assert (code, out) == (0, b"hello from the instance\n")


def test_stdout_and_stderr_come_in_separate_frames_then_a_close_frame_with_the_code(standin: StandIn) -> None:
    conn = connection(standin, ["sh", "-c", "echo out; echo err >&2; exit 7"])

    async def session() -> list[tuple[int, bytes]]:
        async with conn.connect() as ws:
            return await frames_until_close(ws)

    got = asyncio.run(session())
    assert b"".join(p for k, p in got if k == proto.STDOUT) == b"out\n"
    assert b"".join(p for k, p in got if k == proto.STDERR) == b"err\n"
    assert got[-1] == (proto.CLOSE, proto.close_payload(7))


def test_stdin_frames_reach_the_command_and_an_empty_one_ends_its_input(standin: StandIn) -> None:
    conn = connection(standin, ["sh", "-c", "cat; echo done"], stdin=True)

    async def session() -> list[tuple[int, bytes]]:
        async with conn.connect() as ws:
            return await frames_until_close(ws, send=[proto.frame(proto.STDIN, b"typed text\n"),
                                                      proto.frame(proto.STDIN)])

    got = asyncio.run(session())
    assert b"".join(p for k, p in got if k == proto.STDOUT) == b"typed text\ndone\n"
    assert got[-1] == (proto.CLOSE, proto.close_payload(0))


def test_a_tty_session_is_a_terminal_of_the_size_the_client_sets(standin: StandIn) -> None:
    conn = connection(standin, ["sh", "-c", "read line; test -t 0 && stty size"], tty=True)

    async def session() -> list[tuple[int, bytes]]:
        async with conn.connect() as ws:
            return await frames_until_close(ws, send=[proto.frame(proto.RESIZE, proto.resize_payload(100, 30)),
                                                      proto.frame(proto.STDIN, b"go\r")])

    got = asyncio.run(session())
    assert b"30 100" in b"".join(p for k, p in got if k == proto.STDOUT)
    assert not [k for k, _ in got if k == proto.STDERR]  # a terminal merges them
    assert got[-1] == (proto.CLOSE, proto.close_payload(0))


def test_ctrl_c_in_a_tty_interrupts_the_foreground_command(standin: StandIn) -> None:
    script = 'trap "echo got-interrupt; exit 5" INT; echo ready; while :; do sleep 1; done'
    conn = connection(standin, ["sh", "-c", script], tty=True)

    async def session() -> list[tuple[int, bytes]]:
        async with conn.connect() as ws:
            return await frames_until_close(ws, send=[proto.frame(proto.STDIN, b"\x03")], until=b"ready\r\n")

    got = asyncio.run(session())
    assert b"got-interrupt" in b"".join(p for k, p in got if k == proto.STDOUT)
    assert got[-1] == (proto.CLOSE, proto.close_payload(5))


def test_an_unsigned_upgrade_is_refused_before_any_command_runs(standin: StandIn, code_dir: Path) -> None:
    url, _ = exec_request(standin.url, FUNCTION, "c-one", exec_query(["sh", "-c", "touch ran"]),
                          standin.credentials)

    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url, proxy=None):
                pass
        return caught.value.response.status_code

    assert asyncio.run(attempt()) == 401
    assert not (code_dir / "ran").exists()


def test_a_wrong_secret_is_an_auth_error(standin: StandIn) -> None:
    with pytest.raises(AuthError, match="signature"):
        run(connection(standin, ["true"], secret="not-the-secret"))


def test_an_unknown_instance_gets_a_404_error_frame(standin: StandIn) -> None:
    conn = connection(standin, ["true"], instance="c-nope")

    async def session() -> list[tuple[int, bytes]]:
        async with conn.connect() as ws:
            return await frames_until_close(ws)

    (kind, payload), = asyncio.run(session())
    assert kind == proto.ERROR and json.loads(payload)["status"] == 404
    with pytest.raises(NotFound, match="c-nope"):  # a fresh signature: a nonce is good for one request
        run(connection(standin, ["true"], instance="c-nope"))


def test_a_query_without_command_is_an_error(standin: StandIn) -> None:
    with pytest.raises(BackendError, match="command"):
        run(connection(standin, []))


def test_a_missing_program_is_reported_by_its_exit_code(standin: StandIn) -> None:
    code, _, err = run(connection(standin, ["sh", "-c", "no-such-program-xyz"]))
    assert code == 127 and b"no-such-program-xyz" in err


def test_the_command_ends_when_the_client_goes_away(standin: StandIn, code_dir: Path) -> None:
    conn = connection(standin, ["sh", "-c", "echo $$ > pid; echo started; exec sleep 60"])

    async def leave_early() -> None:
        async with conn.connect() as ws:
            async for message in ws:
                if b"started" in message:
                    return

    asyncio.run(leave_early())
    pid = int((code_dir / "pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_an_idle_session_is_ended_after_idle_timeout(standin: StandIn) -> None:
    creds = standin.credentials
    url, headers = exec_request(standin.url, FUNCTION, "c-one",
                                exec_query(["sh", "-c", "exec sleep 60"], stdin=False, idle_timeout=1), creds)
    code, _, _ = run(Connection(url, headers, loopback=True))
    assert code == 128 + 1  # SIGHUP
