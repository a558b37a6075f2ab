"""A private emulator running a tiny agent: what the benchmarks and the end-to-end tests drive.

``Kit(root)`` writes an s.yaml and a standard-library agent under ``root/project`` and gives the
emulator its own ``AGENTCTL_HOME`` (``root/home``); every call is the real CLI in a subprocess, and
``stop()`` (or leaving the ``with`` block) stops that emulator. Loopback only.

The agent (``APP``): ``GET /health``; ``/work?ms=N`` sleeps N ms and answers ``{"tag", "pid"}`` (``tag``
is ``code/tag.txt`` at start-up, so published versions can be told apart); ``/stream?chunks=N&ms=M``
sends N server-sent events M ms apart; ``/fail`` answers 500. It prints one line per request, with the
``x-agentrun-request-id`` it got, so logs can be attributed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

APP = r'''import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = open(os.path.join(HERE, "tag.txt")).read().strip() if os.path.exists(os.path.join(HERE, "tag.txt")) else "v0"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path == "/health":
            return self.reply(200, {"status": "ok"})
        print(f"{url.path} {self.headers.get('x-agentrun-request-id', '-')} tag={TAG}", flush=True)
        if url.path == "/fail":
            return self.reply(500, {"error": "asked to fail"})
        ms = float(query.get("ms", ["0"])[0])
        if url.path == "/stream":
            return self.stream(int(query.get("chunks", ["5"])[0]), ms)
        time.sleep(ms / 1000)
        self.reply(200, {"tag": TAG, "pid": os.getpid()})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, chunks, ms):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n in range(chunks):
            event = f"data: {n} {TAG}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(ms / 1000)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "9000"))), Handler).serve_forever()
'''

def agent_spec(name: str, *, concurrency: int | None = 10, access: str = "local", extra: str = "") -> str:
    """A minimal s.yaml: one python3.12 agent ``name`` in ./code started as ``python3 app.py``.

    ``extra`` is appended under ``props.agent`` as it stands (already indented by eight spaces).
    """
    spec = f"""edition: 3.0.0
name: {name}
access: {access}
resources:
  agent:
    component: agentrun
    props:
      region: cn-hangzhou
      agent:
        name: {name}
        code:
          src: ./code
          language: python3.12
          command: [python3, app.py]
"""
    if concurrency is not None:
        spec += f"        instanceConcurrency: {concurrency}\n"
    return spec + extra


class KitError(RuntimeError):
    pass


class Kit:
    """One project and its own emulator; see the module docstring."""

    def __init__(self, root: Path, name: str = "kit-agent", *, concurrency: int = 10) -> None:
        self.name, self.home, self.dir = name, root / "home", root / "project"
        (self.dir / "code").mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.dir / "s.yaml").write_text(agent_spec(name, concurrency=concurrency))
        (self.dir / "code" / "app.py").write_text(APP)
        self.set_tag("v0")
        self.env = {**os.environ, "AGENTCTL_HOME": str(self.home), "NO_COLOR": "1", "COLUMNS": "200"}
        for secret in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "AGENTCTL_DEBUG"):
            self.env.pop(secret, None)

    def __enter__(self) -> Kit:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # the CLI -----------------------------------------------------------------
    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "agentctl", *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise KitError(f"agentctl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run("-o", "json", *args).stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "agentctl", *args], cwd=self.dir, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def start(self, **settings: object) -> None:
        """``local start`` with ``max_instances=3, idle_timeout=2``-style settings."""
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in settings.items()]
        self.run("local", "start", *flags)

    def set_tag(self, tag: str) -> None:
        (self.dir / "code" / "tag.txt").write_text(tag)

    def deploy(self) -> None:
        self.run("deploy", "-y")

    def publish(self, tag: str) -> str:
        """Tag the code, deploy it to LATEST and freeze it as the next version; returns its number."""
        self.set_tag(tag)
        self.deploy()
        return str(self.json("version", "publish")["version"])

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.json("local", "status")
        return result

    def url(self, path: str = "/work", endpoint: str = "default") -> str:
        return f"{self.status()['gatewayUrl']}/agent-runtimes/{self.name}/endpoints/{endpoint}/invocations{path}"

    def stop(self) -> None:
        self.run("local", "stop", check=False, timeout=60)


def get(url: str, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """One GET; (status, lower-case headers, body), HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def wait_until(check: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())
