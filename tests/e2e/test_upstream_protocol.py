"""Bytes an instance sends that nobody asked for never hang a request or keep its slot (issue #9, item 1).

A real daemon at ``--max-instances 1``: the shipped python-echo template under chunked POSTs, and an app
that writes two answers in one send. Every request is answered within its timeout, `instance list` shows
nothing in flight afterwards, the next request gets the slot (no 429), and `metrics` counts every request.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

from gate_project import gate_project
from lifecycle_support import Project

TWO_ANSWERS = Path(__file__).parent.parent / "emulator" / "apps" / "two_answers" / "app.py"
CHAT = "/openai/v1/chat/completions"
BODY = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
TIMEOUT = 10.0  # a hung request fails the test after this, instead of hanging it


def chunked_post(gateway: str, path: str) -> tuple[int, bytes] | None:
    """A chunked POST on a fresh connection: (status, body), or None when nothing came within TIMEOUT."""
    parts = urlsplit(gateway)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request("POST", path, body=iter([BODY[:10], BODY[10:]]), encode_chunked=True,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        return response.status, response.read()
    except TimeoutError:
        return None
    finally:
        conn.close()


def in_flight(project: Project) -> int:
    return sum(int(row.get("inFlight") or 0) for row in project.json("instance", "list"))


def invocations(project: Project) -> int:
    report = project.json("metrics")
    return sum(int(row["invocations"]) for row in report["rows"])


def test_chunked_posts_to_the_python_echo_template_are_all_answered_and_free_their_slot(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    project = Project(tmp_path / "home", tmp_path / "echo")
    project.run("init", "python-echo", str(project.dir), cwd=tmp_path, ok=True)
    try:
        gateway = json.loads(project.run("-o", "json", "local", "start", "--max-instances", "1",
                                         ok=True).stdout)["gatewayUrl"]
        project.run("deploy", "-y", ok=True)
        path = f"/agent-runtimes/{project.json('info')['agent']['name']}/endpoints/default/invocations{CHAT}"

        answers = [chunked_post(gateway, path) for _ in range(12)]

        assert None not in answers, f"{answers.count(None)} of 12 chunked POSTs were never answered"
        for status, body in answers:  # type: ignore[misc]
            assert status == 200, (status, body)
            assert json.loads(body)["choices"][0]["message"]["content"].endswith("hi")
        assert in_flight(project) == 0
        assert chunked_post(gateway, path) is not None  # the only slot is free again: no 429 for ever after
        assert invocations(project) == 13
    finally:
        project.stop()


def test_an_app_that_writes_two_answers_in_one_send_gets_each_request_answered_once(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=1, start=("--max-instances", "1"), app=TWO_ANSWERS) as project:
        replies = [project.request("twice", timeout=TIMEOUT) for _ in range(6)]

        assert [(r.status, r.json()) for r in replies] == [(200, {"first": 1})] * 6
        assert sum(int(row.get("inFlight") or 0) for row in project.instances()) == 0
        assert invocations(project.project) == 6
