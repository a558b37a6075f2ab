"""The daemon's life: start on demand, survive kill -9 with state intact, one daemon per home, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_agentrun20250910 import models
from daemon_support import code_configuration, code_zip, sdk_client, wait_endpoint_ready

from agentctl.emulator import daemon


@pytest.fixture(autouse=True)
def stopped_after(agentctl_home: Path) -> Iterator[None]:
    """Whatever a test starts, no daemon outlives it (found by the test's own home, not the environment)."""
    yield
    try:
        recorded = json.loads((agentctl_home / "emulator" / "daemon.json").read_text())
    except FileNotFoundError:
        return
    if recorded.get("pid"):
        daemon.terminate(recorded["pid"])


def wait_ready(client: Any, runtime_id: str) -> None:
    for _ in range(100):
        if client.get_agent_runtime(runtime_id, models.GetAgentRuntimeRequest()).body.data.status == "READY":
            return
        time.sleep(0.05)
    raise AssertionError("runtime never became READY")


def build_state(client: Any) -> str:
    """A runtime with two versions and a weighted endpoint."""
    create = models.CreateAgentRuntimeInput().from_map(
        {"agentRuntimeName": "durable", "codeConfiguration": code_configuration(code_zip("one"))})
    runtime_id = client.create_agent_runtime(models.CreateAgentRuntimeRequest(body=create)).body.data.agent_runtime_id
    wait_ready(client, runtime_id)
    for text in ("one", "two"):
        update = models.UpdateAgentRuntimeInput().from_map({"codeConfiguration": code_configuration(code_zip(text))})
        client.update_agent_runtime(runtime_id, models.UpdateAgentRuntimeRequest(body=update))
        wait_ready(client, runtime_id)
        client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
            body=models.PublishRuntimeVersionInput(description=text)))
    endpoint = models.CreateAgentRuntimeEndpointInput().from_map({
        "agentRuntimeEndpointName": "production", "targetVersion": "1",
        "routingConfiguration": {"versionWeights": [{"version": "2", "weight": 0.25}]}})
    client.create_agent_runtime_endpoint(runtime_id, models.CreateAgentRuntimeEndpointRequest(body=endpoint))
    return runtime_id


def snapshot(client: Any, runtime_id: str) -> dict[str, Any]:
    versions = client.list_agent_runtime_versions(runtime_id, models.ListAgentRuntimeVersionsRequest()).body.data
    endpoints = client.list_agent_runtime_endpoints(runtime_id, models.ListAgentRuntimeEndpointsRequest()).body.data
    runtime = client.get_agent_runtime(runtime_id, models.GetAgentRuntimeRequest()).body.data
    drop_url = [{k: v for k, v in e.to_map().items() if k != "endpointPublicUrl"} for e in endpoints.items]
    return {"runtime": runtime.to_map(), "versions": [v.to_map() for v in versions.items], "endpoints": drop_url}


def test_kill_9_keeps_every_version_and_endpoint_and_the_next_command_restarts_it() -> None:
    first = daemon.ensure_running()
    client = sdk_client(first)
    runtime_id = build_state(client)
    before = snapshot(client, runtime_id)

    os.kill(first.pid, signal.SIGKILL)
    assert daemon._wait_gone(first.pid, 10)
    assert daemon.status() is None

    said: list[str] = []
    second = daemon.ensure_running(say=said.append)
    assert second.pid != first.pid
    assert said == [f"Started the local emulator on 127.0.0.1:{second.control_port} (gateway {second.gateway_url})."]
    assert (second.control_port, second.gateway_port) == (first.control_port, first.gateway_port)
    after = snapshot(sdk_client(second), runtime_id)
    assert after == before
    assert [v["agentRuntimeVersion"] for v in after["versions"]] == ["1", "2"]
    assert after["endpoints"][0]["routingConfiguration"] == {"versionWeights": [{"version": "2", "weight": 0.25}]}


def test_ensure_running_reuses_a_running_daemon_silently() -> None:
    first = daemon.ensure_running()
    said: list[str] = []
    assert daemon.ensure_running(say=said.append) == first
    assert said == []


def test_two_clis_starting_at_once_share_one_daemon(agentctl_home: Path) -> None:
    script = "from agentctl.emulator.daemon import ensure_running; print(ensure_running().pid)"
    env = {**os.environ, "AGENTCTL_HOME": str(agentctl_home)}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    pids = {int(p.communicate(timeout=60)[0]) for p in procs}
    assert len(pids) == 1
    assert daemon.status() is not None and daemon.status().pid in pids  # type: ignore[union-attr]


def test_stop_ends_the_daemon_and_keeps_its_ports_for_the_next_start() -> None:
    first = daemon.ensure_running()
    assert daemon.stop() == first.pid
    assert not daemon._alive(first.pid) and daemon.status() is None
    recorded = json.loads((daemon.state_dir() / "daemon.json").read_text())
    assert recorded["pid"] is None and recorded["controlPort"] == first.control_port
    assert daemon.stop() is None
    second = daemon.ensure_running()
    assert second.control_port == first.control_port and second.gateway_port == first.gateway_port


def test_a_stale_state_file_is_ignored_and_a_taken_port_is_replaced(agentctl_home: Path) -> None:
    import socket

    directory = daemon.state_dir()
    directory.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (directory / "daemon.json").write_text(json.dumps({"pid": dead.pid, "controlPort": port, "gatewayPort": 2}))
        assert daemon.status() is None and daemon.stop() is None
        info = daemon.ensure_running()
    assert info.pid != dead.pid and info.control_port != port


def test_keys_stay_the_same_across_restarts_and_the_endpoint_follows_the_port() -> None:
    from agentctl.access import AccessStore

    info = daemon.ensure_running()
    keys = AccessStore().get("local")
    assert keys is not None and keys.endpoint == info.control_url and keys.account_id == "local"
    daemon.stop()
    recorded = daemon.state_dir() / "daemon.json"
    recorded.write_text(json.dumps({**json.loads(recorded.read_text()), "controlPort": None}))
    again = daemon.ensure_running()
    fresh = AccessStore().get("local")
    assert fresh is not None and fresh.access_key_id == keys.access_key_id
    assert fresh.access_key_secret == keys.access_key_secret and fresh.endpoint == again.control_url


def test_generated_local_secrets_are_letters_and_digits_and_a_leading_dash_is_replaced() -> None:
    from agentctl.access import AccessStore, Credentials
    from agentctl.emulator.app import local_credentials, new_secret

    drawn = [new_secret() for _ in range(500)]
    assert all(len(secret) == 30 and secret.isalnum() and secret.isascii() for secret in drawn)
    store = AccessStore()
    store.put("local", Credentials(access_key_id="LTAIold", access_key_secret="-Xy_z", account_id="local",
                                   region="local", endpoint="http://127.0.0.1:1"))
    renewed = local_credentials("http://127.0.0.1:2", store)
    assert renewed.access_key_id == "LTAIold" and renewed.access_key_secret.isalnum()
    assert store.get("local") == renewed


def test_a_second_daemon_for_the_same_home_exits_at_once() -> None:
    info = daemon.ensure_running()
    second = subprocess.run([sys.executable, "-m", "agentctl.emulator"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 3 and "already running" in second.stderr
    assert daemon.status() == info


def test_reset_wipes_the_state() -> None:
    info = daemon.ensure_running()
    client = sdk_client(info)
    build_state(client)
    removed = daemon.reset()
    assert not removed.exists() and daemon.status() is None
    fresh = daemon.ensure_running()
    assert sdk_client(fresh).list_agent_runtimes(models.ListAgentRuntimesRequest()).body.data.total == 0


def test_the_gateway_serves_endpoints_made_through_the_control_api_and_stop_ends_instances() -> None:
    import socket
    import urllib.request

    app = (Path(__file__).parent / "apps" / "echo" / "app.py").read_text()
    info = daemon.ensure_running()
    client = sdk_client(info)
    config = {**code_configuration(code_zip(app=app)), "command": None}
    create = models.CreateAgentRuntimeInput().from_map(
        {"agentRuntimeName": "echo", "codeConfiguration": {k: v for k, v in config.items() if v}})
    runtime_id = client.create_agent_runtime(models.CreateAgentRuntimeRequest(body=create)).body.data.agent_runtime_id
    wait_ready(client, runtime_id)
    client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
        body=models.PublishRuntimeVersionInput(description="one")))
    endpoint = client.create_agent_runtime_endpoint(runtime_id, models.CreateAgentRuntimeEndpointRequest(
        body=models.CreateAgentRuntimeEndpointInput(agent_runtime_endpoint_name="prod", target_version="1"))).body.data
    endpoint = wait_endpoint_ready(client, runtime_id, endpoint.agent_runtime_endpoint_id)
    assert endpoint.status == "READY", endpoint.status_reason

    with urllib.request.urlopen(endpoint.endpoint_public_url + "/echo?x=1", timeout=60) as reply:
        assert reply.headers["x-agentrun-version"] == "1"
        port = int(json.loads(reply.read())["env"]["PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the instance listens while the daemon runs

    daemon.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_reset_refuses_while_a_daemon_it_cannot_stop_holds_the_state(agentctl_home: Path) -> None:
    from agentctl.errors import BackendError

    info = daemon.ensure_running()
    recorded = daemon.state_dir() / "daemon.json"
    recorded.write_text(json.dumps({**json.loads(recorded.read_text()), "pid": None}))  # pid unknown to the CLI
    with pytest.raises(BackendError, match="still runs"):
        daemon.reset()
    assert (agentctl_home / "emulator" / "state.db").exists()
    daemon.terminate(info.pid)
