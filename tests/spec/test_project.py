"""Loading a project: the file, extend, scopes, config, errors with positions, order, select, outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentctl.errors import BadInput, NotFound, SpecError
from agentctl.spec import find_spec_file, load_project, resolve_outputs

from .helpers import load, write

HEAD = "edition: 3.0.0\nname: demo\n"


def test_default_file_is_s_yaml_then_s_yml(tmp_path: Path) -> None:
    write(tmp_path, HEAD, "s.yml")
    assert find_spec_file(None, tmp_path) == tmp_path / "s.yml"
    write(tmp_path, HEAD, "s.yaml")
    assert find_spec_file(None, tmp_path) == tmp_path / "s.yaml"
    write(tmp_path, HEAD, "s.prod.yaml")
    assert find_spec_file(Path("s.prod.yaml"), tmp_path) == tmp_path / "s.prod.yaml"


def test_missing_files_give_one_line_and_a_hint(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no s.yaml or s.yml in") as caught:
        find_spec_file(None, tmp_path)
    assert "-t" in (caught.value.hint or "")
    with pytest.raises(NotFound, match=r"template file s.dev.yaml does not exist") as caught:
        find_spec_file(Path("s.dev.yaml"), tmp_path)
    assert "\n" not in str(caught.value) and caught.value.hint
    write(tmp_path, HEAD, "s.txt")
    with pytest.raises(BadInput, match=r"not a .yaml or .yml"):
        find_spec_file(Path("s.txt"), tmp_path)


def test_project_exposes_resolved_parts(tmp_path: Path) -> None:
    project = load(tmp_path, HEAD + """
        access: dev
        vars: {region: cn-hangzhou}
        actions:
          pre-deploy:
            - run: echo ${vars.region}
        resources:
          agent:
            component: agentrun
            access: other
            actions: {success-deploy: [{run: echo ok}]}
            props: {region: "${vars.region}"}
        """.replace("\n        ", "\n"))
    assert (project.name, project.access, project.vars) == ("demo", "dev", {"region": "cn-hangzhou"})
    assert project.dir == tmp_path and project.path == tmp_path / "s.yaml"
    assert project.actions == {"pre-deploy": [{"run": "echo cn-hangzhou"}]}
    agent = project.resources["agent"]
    assert (agent.component, agent.props, agent.access) == ("agentrun", {"region": "cn-hangzhou"}, "other")
    assert agent.actions == {"success-deploy": [{"run": "echo ok"}]}
    assert "extend" not in project.document


def test_extend_merges_maps_replaces_lists_and_a_null_keeps_the_base(tmp_path: Path) -> None:
    write(tmp_path, HEAD + "vars: {a: 1, b: 2}\nresources:\n  r:\n    component: agentrun\n"
          "    props: {list: [1, 2], keep: base, m: {x: 1}, sum: '${vars.a}-${vars.b}'}\n", "base.yaml")
    project = load(tmp_path, "extend: base.yaml\nvars: {b: 3}\n"
                   "resources:\n  r:\n    props: {list: [9], keep: null, m: {y: 2}}\n")
    assert project.resources["r"].props == {"list": [9], "keep": "base", "m": {"x": 1, "y": 2}, "sum": "1-3"}
    assert project.line_of(("resources", "r", "props", "list")) == 5  # this file's line wins


def test_extend_of_a_missing_file_is_an_error_at_the_extend_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"extend file nope.yaml not found") as caught:
        load(tmp_path, HEAD + "extend: nope.yaml\n")
    assert (caught.value.line, caught.value.column) == (3, 9)


def test_env_reads_dotenv_beside_the_file_without_overriding(tmp_path: Path) -> None:
    write(tmp_path, "A=file\nB=file-b\n", ".env")
    project = load(tmp_path, HEAD + "vars:\n  a: ${env('A')}\n  b: ${env('B')}\n", environ={"A": "process"})
    assert project.vars == {"a": "process", "b": "file-b"}
    assert project.env["B"] == "file-b"


def test_config_comes_from_the_callable_and_stays_literal_in_preview(tmp_path: Path) -> None:
    text = HEAD + "vars:\n  role: acs:ram::${config('AccountID')}:role/x\n"
    assert load(tmp_path, text, config={"AccountID": "123"}.get).vars["role"] == "acs:ram::123:role/x"
    assert load(tmp_path, text, preview=True).vars["role"] == "acs:ram::${config('AccountID')}:role/x"
    with pytest.raises(SpecError, match=r"config\('AccountID'\) not found") as caught:
        load(tmp_path, text, config=lambda key: None)
    assert "config add" in (caught.value.hint or "")


def test_an_error_points_at_the_failing_expression_not_its_user(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, HEAD + "vars:\n  a: x-${vars.b}\n  b: \"${vars.regon}\"\n"
                              "resources:\n  r:\n    component: c\n    props: {v: '${vars.a}'}\n")
    error = caught.value
    assert (error.line, error.column) == (5, 7)
    assert str(error) == f"{tmp_path / 's.yaml'}:5:7: ${{vars.regon}} not found (no `regon` in vars)"


def test_vars_that_refer_to_each_other_in_a_cycle_are_an_error(tmp_path: Path) -> None:
    # (Serverless Devs stops after two rounds and leaves text such as "${vars.b}"; we say why instead.)
    with pytest.raises(SpecError, match=r"refers to itself through vars.a → vars.b"):
        load(tmp_path, HEAD + "vars:\n  a: ${vars.b}\n  b: ${vars.a}\n")


def test_resources_run_in_output_dependency_order_first_ready_first(tmp_path: Path) -> None:
    project = load(tmp_path, HEAD + "resources:\n"
                   "  web: {component: c, props: {api: '${resources.api.output.url}',\n"
                   "                              db: '${resources.db.output.x}'}}\n"
                   "  api: {component: c, props: {db: 'h-${resources.db.output.host}'}}\n"
                   "  db: {component: c, props: {}}\n"
                   "  cron: {component: c, props: {x: '${resources.web.props.api}'}}\n")
    assert [r.name for r in project.select(None)] == ["db", "api", "web", "cron"]
    assert project.resources["web"].depends_on == ("api", "db")
    assert project.resources["cron"].props == {"x": "${resources.api.output.url}"}


def test_a_dependency_cycle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cycle: a → b") as caught:
        load(tmp_path, HEAD + "resources:\n  a: {component: c, props: {x: '${resources.b.output.x}'}}\n"
                              "  b: {component: c, props: {x: '${resources.a.output.x}'}}\n")
    assert caught.value.line == 4


def test_select_one_resource_or_name_the_known_ones(tmp_path: Path) -> None:
    project = load(tmp_path, HEAD + "resources:\n  a: {component: c}\n  b: {component: c}\n")
    assert [r.name for r in project.select("b")] == ["b"]
    with pytest.raises(NotFound, match=r"resource 'x' is not in s.yaml \(resources: a, b\)"):
        project.select("x")


def test_line_of_falls_back_to_the_closest_parent(tmp_path: Path) -> None:
    project = load(tmp_path, HEAD + "resources:\n  a:\n    component: c\n    props:\n      cpu: 1\n")
    assert project.line_of(("resources", "a", "props", "cpu")) == 7
    assert project.line_of(("resources", "a", "props", "memory")) == 6
    assert project.line_of(("nothing",)) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("- a\n", "must be a YAML mapping"), ("resources: [a]\n", "resources must be a mapping"),
     ("resources:\n  a: 1\n", "resource a must be a mapping"), ("extend: [x]\n", "extend must be a file name")],
)
def test_bad_shapes_are_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load(tmp_path, text)


def test_resolve_outputs_fills_run_time_references() -> None:
    outputs = {"db": {"url": "http://db", "port": 5432, "hosts": ["a", "b"]}}
    props = {"u": "${resources.db.output.url}", "p": "${resources.db.output.port}",
             "m": "x:${resources.db.output.port}", "l": ["${resources.db.output.hosts.1}"], "keep": 1}
    assert resolve_outputs(props, outputs) == {"u": "http://db", "p": 5432, "m": "x:5432", "l": ["b"], "keep": 1}
    with pytest.raises(SpecError, match=r"\$\{resources.db.output.nope\} not found"):
        resolve_outputs("${resources.db.output.nope}", outputs)


def test_load_project_accepts_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, HEAD + "vars:\n  here: ${cwd}\n")
    monkeypatch.chdir(tmp_path)
    assert load_project(Path("s.yaml"), environ={}).vars["here"] == str(tmp_path)
