"""The AgentRun guide (../shared/seeds/001_*.txt), command by command, as printed there.

Every command below is the guide's own line with ``s`` replaced by ``agentctl`` — flags after the
command included — run through the real CLI against a real emulator. The project is the guide's:
``s.yaml`` (its basic file), ``s.prod.yaml`` (its production file, ``${env(VPC_ID)}`` and all, from
``.env``) and the echo agent as ``code/``. The only commands that are not the guide's are the setup
(`init`, and `config add` with flags where the guide runs the interactive wizard) and the checks.
One line of the guide's ``s.prod.yaml`` is not YAML (``vSwitchIds: [${env(VSWITCH_ID)}]``: ``{`` opens a
flow mapping inside ``[ ]``, and Serverless Devs' parser rejects it too): the test checks that agentctl
says where, then quotes it, as a user would.

After each traffic step, requests are counted at the production URL (≥ 500; 1,000 while split) and at
the canary URL by ``x-agentrun-version`` and the ``[vN]`` tag of each answer. Load: 8 concurrent
keep-alive clients on loopback.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifecycle_support import Project, count_versions

SECRET = "GuideRuntimeSecret0123456789abcd"  # .env's AGENTRUN_ACCESS_KEY_SECRET: must never be printed

S_YAML = """\
edition: 3.0.0
name: my-agentrun-app
access: default  # 引用 s config add 配置的凭证别名

resources:
  my-agent:
    component: agentrun
    props:
      region: cn-hangzhou

      agent:
        name: my-agent-runtime
        description: "My Agent Runtime"

        code:
          src: ./code
          language: python3.12
          command:
            - python3
            - app.py

        cpu: 1.0
        memory: 2048
        port: 9000

        environmentVariables:
          AGENTRUN_ACCESS_KEY_ID: ${env('AGENTRUN_ACCESS_KEY_ID')}
          AGENTRUN_ACCESS_KEY_SECRET: ${env('AGENTRUN_ACCESS_KEY_SECRET')}
          AGENTRUN_REGION: ${env('AGENTRUN_REGION')}

        role: acs:ram::123456789:role/agentRunRole
"""

S_PROD_YAML = """\
edition: 3.0.0
name: prod-agentrun-app
access: production

vars:
  region: cn-hangzhou
  env: prod

resources:
  my-agent:
    component: agentrun
    props:
      region: ${vars.region}
      agent:
        name: agent-${vars.env}

        code:
          src: ./code
          language: python3.12
          command: [python3, app.py]

        cpu: 2.0
        memory: 4096
        instanceConcurrency: 50

        vpcConfig:
          vpcId: ${env(VPC_ID)}
          vSwitchIds: [${env(VSWITCH_ID)}]
          securityGroupId: ${env(SECURITY_GROUP_ID)}
        internetAccess: true

        environmentVariables:
          ENVIRONMENT: ${vars.env}
          LOG_LEVEL: info

        logConfig:
          project: prod-logs
          logstore: agentrun-runtime

        role: acs:ram::123456789:role/agentRunRole
"""

DOTENV = f"""\
AGENTRUN_ACCESS_KEY_ID=your-access-key-id
AGENTRUN_ACCESS_KEY_SECRET={SECRET}
AGENTRUN_ACCOUNT_ID=your-account-id
AGENTRUN_REGION=cn-hangzhou
VPC_ID=vpc-bp1234567890abcdef
VSWITCH_ID=vsw-bp1111111111111111
SECURITY_GROUP_ID=sg-bp1234567890abcdef
"""


def guide(project: Project, line: str, **options: Any) -> Any:
    """Run one of the guide's command lines (``s ...``) as agentctl, exactly as printed."""
    words = shlex.split(line)
    assert words[0] == "s", line
    return project.run(*words[1:], ok=True, **options)


def urls(project: Project) -> dict[str, str]:
    return {row["name"]: row["url"] for row in project.json("endpoint", "list")}


def share_of_v2(counts: Any) -> float:
    assert set(counts) <= {"1", "2"}, counts
    return counts["2"] / sum(counts.values())


@pytest.mark.timeout(900)
def test_the_guide_works_as_typed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    project = Project(home, tmp_path / "my-agentrun-project")
    project.run("init", "python-echo", str(project.dir), cwd=tmp_path, ok=True)
    (project.dir / "s.yaml").write_text(S_YAML)
    (project.dir / "s.prod.yaml").write_text(S_PROD_YAML)
    (project.dir / ".env").write_text(DOTENV)
    try:
        _walk_the_guide(project)
    finally:
        project.stop()


def _walk_the_guide(project: Project) -> None:
    # `s config add`, non-interactively: an alias `production` for the emulator (its keys, its endpoint).
    project.run("local", "start", ok=True)
    local = project.credentials("local")
    assert not local.access_key_secret.startswith("-")  # it goes on a command line next
    project.run("config", "add", "--access", "production", "--access-key-id", local.access_key_id,
                "--access-key-secret", local.access_key_secret, "--account-id", "local",
                "--endpoint", local.endpoint, ok=True)

    # 部署到云端环境 — first the guide's s.prod.yaml as printed, then with its one YAML error fixed
    verbatim = project.run("deploy", "-t", "s.prod.yaml", "-a", "production", ok=False)
    assert verbatim.returncode == 2 and "s.prod.yaml:28:25: YAML syntax error" in verbatim.stderr
    assert "Hint:" in verbatim.stderr and "Traceback" not in verbatim.stderr
    project.edit("s.prod.yaml", "[${env(VSWITCH_ID)}]", '["${env(VSWITCH_ID)}"]')
    prod = guide(project, "s deploy -t s.prod.yaml -a production")
    assert "agent-prod" in prod.stdout
    runtime = project.snapshot()["agent-prod"]["runtime"]
    assert runtime["networkConfiguration"]["vpcId"] == "vpc-bp1234567890abcdef"
    assert (runtime["cpu"], runtime["memory"], runtime["sessionConcurrencyLimitPerInstance"]) == (2, 4096, 50)

    guide(project, "s build")
    debug = guide(project, "s deploy --debug")
    assert "[debug] → POST" in debug.stderr and "(CreateAgentRuntime)" in debug.stderr
    assert '"AGENTRUN_ACCESS_KEY_SECRET": "***"' in debug.stderr
    assert SECRET not in debug.stderr + debug.stdout and local.access_key_secret not in debug.stderr

    # 查看 Agent 详细信息: the guide's fields, in its order
    info = yaml.safe_load(guide(project, "s info").stdout)["my-agent"]
    assert list(info) == ["id", "arn", "name", "description", "artifactType", "status", "resources", "timestamps",
                          "region", "endpoints"]
    assert (info["name"], info["description"], info["artifactType"], info["status"], info["region"]) == (
        "my-agent-runtime", "My Agent Runtime", "Code", "READY", "cn-hangzhou")
    assert info["resources"] == {"cpu": 1, "memory": 2048, "port": 9000}
    assert set(info["timestamps"]) == {"createdAt", "lastUpdatedAt"}
    assert [set(ep) for ep in info["endpoints"]] == [{"id", "name", "url"}]

    # 版本管理和灰度发布
    guide(project, 's version publish --description "Production release v1.0"')
    assert "Production release v1.0" in guide(project, "s version list").stdout
    guide(project, "s endpoint publish --endpoint-name production --target-version 1")
    production = urls(project)["production"]
    assert count_versions(production, 500, clients=8) == {"1": 500}

    # 灰度发布完整流程: new code, built, deployed, published as version 2
    project.edit("code/app.py", '"AGENT_VERSION_TAG", "v1"', '"AGENT_VERSION_TAG", "v2"')
    guide(project, "s build")
    guide(project, "s deploy")
    guide(project, 's version publish --description "Added new feature X"')
    guide(project, 's endpoint publish --endpoint-name prod-v2 --target-version 2 --description "Production v2"')

    guide(project, 's endpoint publish --endpoint-name canary --target-version 2 --weight 0.1 --description "Canary 10%"')  # noqa: E501
    canary = urls(project)["canary"]
    tenth = count_versions(production, 1000, clients=8)
    print("canary 0.1 at production:", dict(tenth))
    assert 0.06 <= share_of_v2(tenth) <= 0.14, tenth  # "production 端点仍然指向版本 1 ... 只有 10% 的流量"
    assert count_versions(canary, 500, clients=8) == {"2": 500}

    guide(project, "s endpoint publish --endpoint-name canary --target-version 2 --weight 0.5")
    half = count_versions(production, 1000, clients=8)
    print("canary 0.5 at production:", dict(half))
    assert 0.44 <= share_of_v2(half) <= 0.56, half
    assert count_versions(canary, 500, clients=8) == {"2": 500}

    listing = guide(project, "s endpoint list", env={"COLUMNS": "80"}).stdout
    for url in urls(project).values():
        assert url in listing.splitlines()[-1] or any(line.endswith(url) for line in listing.splitlines()), listing
    got = guide(project, "s endpoint get --endpoint-name production").stdout
    assert "50% → 1, 50% → 2" in got and production in got

    guide(project, "s endpoint publish --endpoint-name production --target-version 2")  # cut-over
    assert count_versions(production, 500, clients=8) == {"2": 500}
    assert count_versions(canary, 500, clients=8) == {"2": 500}

    guide(project, "s endpoint publish --endpoint-name production --target-version 1")  # rollback
    assert count_versions(production, 500, clients=8) == {"1": 500}
    assert count_versions(canary, 500, clients=8) == {"2": 500}
    assert "prod-v2" in guide(project, "s endpoint list").stdout
