"""`agentctl invoke` through the real gateway: streamed chat, raw requests, headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle_support import Project, echo_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with echo_project(tmp_path_factory.mktemp("invoke")) as deployed:
        yield deployed


def test_chat_message_prints_the_streamed_answer(project: Project) -> None:
    result = project.run("invoke", "--message", "hi there", ok=True)
    assert result.stdout == "[v1] hi there\n"


def test_json_output_carries_status_and_agentrun_headers(project: Project) -> None:
    reply = project.json("invoke", "-m", "hi")
    assert reply["status"] == 200 and reply["body"] == "[v1] hi"
    assert reply["headers"]["x-agentrun-version"] == "LATEST"
    assert {"x-agentrun-request-id", "x-agentrun-instance-id"} <= set(reply["headers"])


def test_debug_prints_status_and_headers_to_stderr(project: Project) -> None:
    result = project.run("--debug", "invoke", "-m", "hi", ok=True)
    assert "HTTP 200" in result.stderr and "x-agentrun-version=LATEST" in result.stderr
    assert result.stdout == "[v1] hi\n"


def test_raw_request_streams_the_body(project: Project) -> None:
    result = project.run("invoke", "--method", "GET", "--path", "/health", ok=True)
    assert '"status": "ok"' in result.stdout


def test_raw_post_with_body_and_header(project: Project) -> None:
    body = '{"messages": [{"role": "user", "content": "raw"}]}'
    result = project.run("invoke", "--path", "/openai/v1/chat/completions", "--body", body,
                         "--header", "Content-Type: application/json", ok=True)
    assert '"content": "[v1] raw"' in result.stdout


def test_agent_error_status_fails_with_a_hint(project: Project) -> None:
    result = project.run("invoke", "--path", "/nope", ok=False)
    assert result.returncode == 5 and "HTTP 404" in result.stderr and "Hint:" in result.stderr


def test_unknown_endpoint_and_bad_header_are_refused(project: Project) -> None:
    missing = project.run("invoke", "--endpoint-name", "ghost", ok=False)
    assert missing.returncode == 3 and "no endpoint 'ghost'" in missing.stderr
    bad = project.run("invoke", "--header", "no-colon", ok=False)
    assert bad.returncode == 2 and "Name: value" in bad.stderr
