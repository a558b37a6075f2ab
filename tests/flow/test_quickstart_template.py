"""templates/flow-quickstart: its s.yaml (read by agentctl's own loader) runs offline, exactly as documented.

The agents are started from the template's code with each resource's environmentVariables, the
flow's runtime nodes are bound to them by resource name, and the packaged runner answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from flow_support import REPO, Proc, answer, start

from agentctl.flow import bind_runtime_urls, check_flow, is_flow, runtime_refs
from agentctl.flow.parse import parse_flow
from agentctl.spec import load_project

TEMPLATE = REPO / "templates" / "flow-quickstart"


@pytest.fixture
def template_agents(tmp_path: Path) -> Any:
    project = load_project(TEMPLATE / "s.yaml")
    procs: dict[str, Proc] = {}
    for name, resource in project.resources.items():
        if resource.component == "agentrun":
            agent = resource.props["agent"]
            code = TEMPLATE / agent["code"]["src"]
            procs[name] = start([sys.executable, *agent["code"]["command"][1:]], tmp_path / f"{name}.log",
                                cwd=code, env={k: str(v) for k, v in agent["environmentVariables"].items()})
    yield {name: proc.url for name, proc in procs.items()}
    for proc in procs.values():
        proc.stop()


def bound_flow(path: Path, resource: str, urls: dict[str, str], environ: dict[str, str] | None = None) -> Any:
    props = load_project(path, environ=environ).resources[resource].props
    return bind_runtime_urls(props["flow"], lambda name, endpoint: urls.get(name) if endpoint == "default" else None)


def test_every_flow_of_the_template_is_valid_and_names_only_its_own_agents():
    for file in ("s.yaml", "s.routing.yaml"):
        project = load_project(TEMPLATE / file, environ={"MODEL_API_KEY": "k"})
        agents = {n for n, r in project.resources.items() if r.component == "agentrun"}
        flows = {n: r for n, r in project.resources.items() if is_flow(r.component)}
        assert flows
        for name, resource in flows.items():
            assert check_flow(resource.props["flow"], where=("resources", name, "props", "flow")) == []
            refs = runtime_refs(parse_flow(resource.props["flow"]))
            assert {ref.resource for ref in refs} <= agents


def test_the_quickstart_pipeline_runs_offline(template_agents, runner):
    proc = runner(bound_flow(TEMPLATE / "s.yaml", "pipeline", template_agents))
    assert json.loads(answer(proc.url, "hello world")) == ["HELLO", "WORLD", "/", "HELLO", "WORLD!!!"]
    trace = proc.output()
    assert "node=pipeline/louder[1]/cheer event=end" in trace and "node=pipeline/louder[2]/cheer" not in trace
    assert trace.count("node=pipeline/each[") == 10  # five words, a start and an end line each


def test_the_routing_example_runs_against_an_openai_compatible_model(template_agents, model, runner):
    model.script({"router-model": {"reply": "words"}})
    environ = {"MODEL_BASE_URL": model.base_url, "MODEL_NAME": "router-model", "MODEL_API_KEY": "sk-route"}
    project = load_project(TEMPLATE / "s.routing.yaml", environ=environ)
    runtime_env = project.resources["helpdesk"].props["agent"]["environmentVariables"]
    flow = bound_flow(TEMPLATE / "s.routing.yaml", "helpdesk", template_agents, environ)
    proc = runner(flow, env=runtime_env)
    assert json.loads(answer(proc.url, "make this loud")) == ["make", "this", "loud"]
    (call,) = model.log()
    assert call["headers"]["authorization"] == "Bearer sk-route" and call["model"] == "router-model"
    assert "sk-route" not in json.dumps(flow)  # the key is the runtime's environment, not the flow's code
