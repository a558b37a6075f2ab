"""The logs routes through real HTTP: mounted on the real control app (signature check), read by LogsClient."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from agentctl.access import Credentials
from agentctl.api.logs import LogFilters, LogsClient, logs_path
from agentctl.api.signing import NonceCache
from agentctl.emulator.codestore import CodeStore
from agentctl.emulator.control import make_control_app
from agentctl.emulator.logs import LogRecord, LogStore
from agentctl.emulator.logs_api import mount_logs_api
from agentctl.emulator.service import AgentRunService, ServiceConfig
from agentctl.emulator.store import Store
from agentctl.errors import ApiError

CREDS = Credentials(access_key_id="LTAItest", access_key_secret="s3cret", account_id="local")
RUNTIME = "3f1c2d4e-0000-4000-8000-000000000001"


class Server:
    """The control app with the logs routes, served on 127.0.0.1 from a thread of its own."""

    def __init__(self, root: Path, logs: LogStore) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.worker = ThreadPoolExecutor(max_workers=1)
        self.state = Store(root / "state.db")
        service = AgentRunService(self.state, CodeStore(root / "code"), ServiceConfig())
        app = make_control_app(service, lambda fn: self.loop.run_in_executor(self.worker, fn),
                               lambda key: CREDS.access_key_secret if key == CREDS.access_key_id else None,
                               NonceCache())
        mount_logs_api(app, logs, heartbeat=0.3)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.worker.shutdown()
        self.state.close()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[LogStore]:
    store = LogStore(tmp_path / "logs.db")
    yield store
    store.close()


@pytest.fixture
def server(tmp_path: Path, logs: LogStore) -> Iterator[Server]:
    running = Server(tmp_path, logs)
    yield running
    running.close()


def rec(message: str, *, kind: str = "stdout", request_id: str | None = None, status: int | None = None,
        instance_id: str = "c-1") -> LogRecord:
    return LogRecord(time.time_ns(), RUNTIME, "agent", "1", kind, message, "default", instance_id, request_id,
                     status)


def test_query_returns_the_filtered_records_as_json(server: Server, logs: LogStore) -> None:
    logs.append(rec("start", kind="request-start", request_id="r1"))
    logs.append(rec("hello from r1", request_id="r1"))
    logs.append(rec("", kind="request-end", request_id="r1", status=500))
    logs.append(rec("hello from c-2", instance_id="c-2"))
    logs.append(replace(rec("elsewhere"), runtime_id="another"))
    assert logs.flush()
    with LogsClient(server.url, CREDS) as client:
        everything = client.query(RUNTIME, LogFilters())
        assert [r["message"] for r in everything.records] == ["start", "hello from r1", "", "hello from c-2"]
        assert everything.cursor == logs.last_id()  # the whole store up to now: follow from here
        assert [r["kind"] for r in client.query(RUNTIME, LogFilters(request_id="r1")).records] == [
            "request-start", "stdout", "request-end"]
        assert [r["message"] for r in client.query(RUNTIME, LogFilters(instance_id="c-2")).records] == [
            "hello from c-2"]
        assert len(client.query(RUNTIME, LogFilters(type="fail")).records) == 3
        assert client.query(RUNTIME, LogFilters(type="success")).records == []
        assert [r["message"] for r in client.query(RUNTIME, LogFilters(search="FROM R1")).records] == [
            "hello from r1"]
        first = everything.records[0]
        window = LogFilters(start_ms=first["timeNs"] // 10**6, end_ms=first["timeNs"] // 10**6)
        assert first["id"] in [r["id"] for r in client.query(RUNTIME, window).records]
        assert [r["message"] for r in client.query(RUNTIME, LogFilters(), limit=1).records] == ["hello from c-2"]


def test_follow_streams_records_stored_after_it_started(server: Server, logs: LogStore) -> None:
    logs.append(rec("old"))
    assert logs.flush()
    with LogsClient(server.url, CREDS) as client:
        stream = client.follow(RUNTIME, LogFilters(), after=logs.last_id())

        def later() -> None:
            time.sleep(0.5)  # longer than a heartbeat: the stream must survive idle periods
            for i in range(3):
                logs.append(rec(f"new {i}", instance_id=f"c-{i}"))

        threading.Thread(target=later, daemon=True).start()
        got = [next(stream)["message"] for _ in range(3)]
        stream.close()
    assert got == ["new 0", "new 1", "new 2"]


def test_a_wrong_secret_is_refused_on_both_routes(server: Server) -> None:
    wrong = replace(CREDS, access_key_secret="not-it")
    with LogsClient(server.url, wrong) as client:
        with pytest.raises(ApiError) as query_error:
            client.query(RUNTIME, LogFilters())
        with pytest.raises(ApiError) as follow_error:
            next(client.follow(RUNTIME, LogFilters()))
    assert query_error.value.status == follow_error.value.status == 403
    assert query_error.value.code == follow_error.value.code == "SignatureDoesNotMatch"


def test_unsigned_requests_get_401(server: Server) -> None:
    reply = httpx.get(server.url + logs_path(RUNTIME), trust_env=False)
    assert reply.status_code == 401
    assert reply.json()["code"] == "MissingAuthorization"


@pytest.mark.parametrize(("params", "named"), [
    ({"type": "maybe"}, "type"), ({"from": "yesterday"}, "from"), ({"limit": "0"}, "limit"),
    ({"after": "-3"}, "after"),
])
def test_bad_parameters_get_400_naming_them(server: Server, params: dict[str, str], named: str) -> None:
    with LogsClient(server.url, CREDS) as client, pytest.raises(ApiError) as error:
        client.session.call("GetFunctionLogs", "GET", logs_path(RUNTIME), query=params)
    assert error.value.status == 400 and error.value.code == "InvalidParameter"
    assert named in error.value.message


def test_a_function_name_without_the_agentrun_prefix_is_refused(server: Server) -> None:
    with LogsClient(server.url, CREDS) as client, pytest.raises(ApiError) as error:
        client.session.call("GetFunctionLogs", "GET", "/2023-03-30/functions/myfunc/logs")
    assert error.value.status == 400 and "agentrun-" in error.value.message
