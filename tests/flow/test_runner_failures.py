"""Failures are answers, not hangs: timeouts, retries, failing branches, credentials, and flows that cannot load.

"The runner did not wait" is shown structurally: the scripted model records when it finished a call,
and a held call that the runner gave up on has not finished when the runner's answer is in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from flow_support import answer, chat, package_runner, runtime


def llm(name: str, base_url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "llm", "name": name, "model": name, "baseUrl": base_url, **fields}


def test_a_node_timeout_answers_504_without_waiting_for_the_agent(model, runner):
    model.script({"slow": {"reply": "late", "hold": "never"}})
    proc = runner({"root": {"type": "sequential", "name": "s", "agents": [llm("slow", model.base_url, timeout=0.5)]}})
    response = chat(proc.url, "x")
    assert response.status_code == 504
    assert response.json()["error"] == {"message": "s/slow: timed out after 0.5s", "type": "flow_error",
                                        "code": "Timeout", "node": "s/slow"}
    (call,) = model.log()
    assert "end" not in call  # the model is still holding that call: the runner did not wait for it
    model.release("never")


def test_the_flow_timeout_bounds_a_whole_run(model, runner):
    model.script({"slow": {"reply": "late", "hold": "h-flow"}})
    proc = runner({"timeout": 1, "root": llm("slow", model.base_url)})
    response = chat(proc.url, "x")
    assert response.status_code == 504
    assert response.json()["error"]["message"] == "slow: the flow did not finish within 1s"
    model.release("h-flow")


def test_retries_recover_from_failing_attempts(model, runner):
    model.script({"flaky": {"reply": "fine: {input}", "fail_first": 2}})
    proc = runner({"root": llm("flaky", model.base_url, retries=2)})
    assert answer(proc.url, "x") == "fine: x"
    assert len(model.log()) == 3
    notes = [line for line in proc.output().splitlines() if "event=note" in line]
    assert len(notes) == 2 and "retry attempt=2 after: flaky:" in notes[0] and "answered 503" in notes[0]
    assert "attempts=3" in next(line for line in proc.output().splitlines() if "event=end" in line)


def test_retries_run_out_and_the_last_failure_is_the_answer(model, runner):
    model.script({"flaky": {"reply": "fine", "fail_first": 5}})
    proc = runner({"root": llm("flaky", model.base_url, retries=1)})
    response = chat(proc.url, "x")
    assert response.status_code == 502 and len(model.log()) == 2
    assert response.json()["error"]["message"].startswith("flaky: http://127.0.0.1:")
    assert "answered 503" in response.json()["error"]["message"]


def test_on_error_report_puts_the_failed_branch_in_the_merged_result(agents, runner):
    flow = {"root": {"type": "parallel", "name": "p", "onError": "report",
                     "agents": [runtime("upper"), runtime("ghost"), runtime("reverse")]}}
    proc = runner(flow, bind={**agents, "ghost": "http://127.0.0.1:9"})
    merged = json.loads(answer(proc.url, "a b"))
    assert merged["upper"] == "A B" and merged["reverse"] == "b a"
    error = merged["ghost"]["error"]
    assert error["node"] == "p/ghost" and error["code"] == "AgentUnreachable"
    assert error["message"].startswith("cannot connect to http://127.0.0.1:9")


def test_on_error_report_with_concat(agents, runner):
    flow = {"root": {"type": "parallel", "name": "p", "onError": "report", "merge": "concat", "separator": " / ",
                     "agents": [runtime("upper"), runtime("ghost")]}}
    text = answer(runner(flow, bind={**agents, "ghost": "http://127.0.0.1:9"}).url, "a")
    assert text.startswith("A / [p/ghost failed: cannot connect to http://127.0.0.1:9")


def test_on_error_fail_fails_the_node_and_cancels_the_other_branches(agents, model, runner):
    model.script({"held": {"reply": "never sent", "hold": "h-cancel"}})
    flow = {"root": {"type": "parallel", "name": "p",
                     "agents": [llm("held", model.base_url), runtime("ghost")]}}
    proc = runner(flow, bind={"ghost": "http://127.0.0.1:9"})
    response = chat(proc.url, "x")
    assert response.status_code == 502 and response.json()["error"]["node"] == "p/ghost"
    held_end = next(line for line in proc.output().splitlines() if "node=p/held event=end" in line)
    assert "outcome=error" in held_end and "error=cancelled" in held_end
    model.release("h-cancel")


def test_an_api_key_comes_from_the_named_environment_variable(model, runner):
    model.script({"keyed": {"reply": "ok"}})
    flow = {"env": {"TENANT": "from-flow"}, "root": llm(
        "keyed", model.base_url, apiKeyEnv="MODEL_KEY", headers={"X-Tenant": "{{ env.TENANT }}"})}
    missing = chat(runner(flow).url, "x")
    assert missing.status_code == 500 and missing.json()["error"]["code"] == "MissingApiKey"
    assert missing.json()["error"]["message"] == "keyed: apiKeyEnv MODEL_KEY is not set in the runtime's environment"
    assert answer(runner(flow, env={"MODEL_KEY": "sk-test", "TENANT": "from-instance"}).url, "x") == "ok"
    headers = model.log()[0]["headers"]
    assert headers["authorization"] == "Bearer sk-test" and headers["x-tenant"] == "from-instance"


def test_a_template_reading_an_unset_env_fails_the_node(agents, runner):
    proc = runner({"root": runtime("echo", input="{{ env.NOT_THERE_X }}")}, bind=agents)
    response = chat(proc.url, "x")
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "echo: input: env.NOT_THERE_X is not set"


def test_an_agent_that_does_not_speak_chat_completions(agents, runner):
    proc = runner({"root": runtime("echo", path="/health")}, bind=agents)
    response = chat(proc.url, "x")
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert message.startswith("echo: http://127.0.0.1:") and "/health answered 404: " in message
    assert "no route for POST /health" in message


def run_runner(folder, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", "-m", "agentctl.flow.runner", *args], cwd=folder,
                          capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "PORT": "0"})


def test_the_runner_refuses_a_flow_that_does_not_load(tmp_path):
    folder = package_runner(tmp_path / "bad", {"root": {"type": "loop", "count": 0, "agent": runtime("a")}})
    result = run_runner(folder)
    assert result.returncode == 2
    assert "flow runner: 2 problems in the flow:" in result.stderr
    assert "flow.root.count: count must be from 1 to 1000, got 0" in result.stderr
    assert "flow.root.agent: runtime node 'a' has no URL" in result.stderr
    assert "Hint:" in result.stderr


def test_the_runner_without_a_flow_file(tmp_path):
    folder = package_runner(tmp_path / "none", {"root": runtime("a")})
    (folder / "flow.json").unlink()
    result = run_runner(folder)
    assert result.returncode == 2
    assert "cannot read the flow file flow.json: No such file or directory" in result.stderr
    assert "AGENTCTL_FLOW_FILE" in result.stderr


def test_runtime_flag_binds_a_runtime_for_a_local_run(tmp_path):
    folder = package_runner(tmp_path / "flag", {"root": runtime("a")})
    result = run_runner(folder, "--runtime", "a")
    assert result.returncode == 2 and "--runtime expects RESOURCE[:ENDPOINT]=URL, got 'a'" in result.stderr
