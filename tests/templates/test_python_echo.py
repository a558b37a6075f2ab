"""The python-echo agent, created by `agentctl init` and started by hand on a real socket."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


class Agent:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def stop(self) -> str:
        """SIGTERM, then the whole stdout."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def agent(cli, tmp_path: Path) -> Iterator[Agent]:
    assert cli("init", "python-echo", "echo", cwd=tmp_path).returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "FC_INSTANCE_ID", "AGENT_VERSION_TAG")}
    env.update(PORT=str(port), PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=tmp_path / "echo" / "code", env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = process.stdout.readline()  # printed once the socket listens
    assert f"listening on http://127.0.0.1:{port}" in banner, banner
    running = Agent(process, port)
    yield running
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=30)


def sse_events(body: bytes) -> list[str]:
    return [line[len("data: "):] for line in body.decode().split("\n\n") if line.startswith("data: ")]


def test_streaming_chat_sends_openai_chunks_ending_with_done(agent):
    status, headers, body = agent.request("POST", "/openai/v1/chat/completions", {
        "model": "echo", "stream": True, "messages": [{"role": "user", "content": "hello there agent"}]})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) >= 2
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "[v1] hello there agent"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_each_event_is_its_own_http_chunk(agent):
    """Read the raw chunked framing: one event per chunk means each event was written and flushed alone."""
    request = json.dumps({"stream": True, "messages": [{"role": "user", "content": "a b c"}]}).encode()
    with socket.create_connection(("127.0.0.1", agent.port), timeout=30) as sock:
        sock.sendall(b"POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(request), request))
        raw = b""
        while data := sock.recv(65536):
            raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    pieces = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        pieces.append(rest[:size])
        rest = rest[size + 2:]
    assert len(pieces) >= 3
    assert all(p.startswith(b"data: ") and p.endswith(b"\n\n") and p.count(b"data: ") == 1 for p in pieces)
    assert pieces[-1] == b"data: [DONE]\n\n"


def test_json_chat_returns_a_chat_completion(agent):
    status, headers, body = agent.request("POST", "/openai/v1/chat/completions", {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping"}]})
    assert status == 200 and headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "[v1] ping"}
    assert reply["usage"]["total_tokens"] > 0


def test_health_and_models(agent):
    status, _, body = agent.request("GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = agent.request("GET", "/openai/v1/models")
    models = json.loads(body)
    assert status == 200 and models["object"] == "list" and models["data"][0]["object"] == "model"


def test_bad_requests_get_openai_style_errors(agent):
    status, _, body = agent.request("POST", "/openai/v1/chat/completions", {"prompt": "no messages"})
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    status, _, body = agent.request("GET", "/nope")
    assert status == 404 and "error" in json.loads(body)


def test_one_log_line_per_request_and_clean_exit_on_sigterm(agent):
    agent.request("GET", "/health")
    agent.request("GET", "/openai/v1/models")
    agent.request("POST", "/openai/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    out = agent.stop()
    assert agent.process.returncode == 0
    lines = [line for line in out.splitlines() if '"GET ' in line or '"POST ' in line]
    assert len(lines) == 3
    assert "/health" in lines[0] and " 200 " in lines[0]


def test_version_tag_comes_from_the_environment(cli, tmp_path):
    assert cli("init", "python-echo", "echo", cwd=tmp_path).returncode == 0
    port = free_port()
    env = {**os.environ, "PORT": "", "FC_SERVER_PORT": str(port), "AGENT_VERSION_TAG": "v7", "HOST": "127.0.0.1"}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=tmp_path / "echo" / "code", env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    agent = Agent(process, port)
    try:
        assert f"v7 listening on http://127.0.0.1:{port}" in process.stdout.readline()
        _, _, body = agent.request("POST", "/openai/v1/chat/completions", {"messages": [{"role": "user",
                                                                                         "content": "hi"}]})
        assert json.loads(body)["choices"][0]["message"]["content"] == "[v7] hi"
    finally:
        agent.stop()
