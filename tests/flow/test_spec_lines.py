"""Flow problems carry YAML paths that agentctl's s.yaml loader turns into lines (what `verify` will print)."""

from __future__ import annotations

from pathlib import Path

from agentctl.flow import check_flow
from agentctl.flow.fields import format_path
from agentctl.spec import load_project

SPEC = """\
edition: 3.0.0
name: lines
resources:
  helper:
    component: agentrun
    props:
      agent: {name: helper, code: {src: ./code, language: python3.12, command: [python3, app.py]}}
  pipeline:
    component: agentctl-flow
    props:
      agent: {name: pipeline}
      flow:
        root:
          type: sequential
          agents:
            - type: runtime
              resource: helper
            - type: paralel
              agents: []
            - type: loop
              until: last.content = "DONE"
              agent: {type: runtime, resource: helper, name: again}
"""


def test_flow_issues_map_to_the_lines_of_s_yaml(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(SPEC)
    project = load_project(tmp_path / "s.yaml")
    where = ("resources", "pipeline", "props", "flow")
    issues = check_flow(project.resources["pipeline"].props["flow"], where=where)
    found = [(project.line_of(issue.where), format_path(issue.where), issue.message.split("\n")[0], issue.hint)
             for issue in issues]
    assert found == [
        (18, "resources.pipeline.props.flow.root.agents[1].type", "unknown node type 'paralel'. Did you mean "
         "'parallel'?", "The node types are: sequential, parallel, loop, route, runtime, openai, llm."),
        (21, "resources.pipeline.props.flow.root.agents[2].until",
         "bad expression: unexpected character '=' (column 14)", "Compare with == (not =)."),
    ]
