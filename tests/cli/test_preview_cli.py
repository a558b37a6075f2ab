"""`agentctl preview`: the resolved document, secrets masked, in yaml or json."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SPEC = """\
edition: 3.0.0
name: demo
access: default
vars:
  region: cn-hangzhou
  cpu: 2
resources:
  agent:
    component: agentrun
    props:
      region: ${vars.region}
      agent:
        name: agent-${vars.region}
        cpu: ${vars.cpu}
        role: acs:ram::${config('AccountID')}:role/R
        code: {src: ./code, language: python3.12}
        environmentVariables:
          OPENAI_API_KEY: sk-live-0123456789abcdef
          MODEL: qwen-max
          BAKED_IN: key=${config('AccessKeySecret')}
  other:
    component: agentrun
    props:
      region: cn-hangzhou
      agent: {name: other, customContainerConfig: {image: i}}
"""
SECRET = "SuperSecretAccessKeyValue42"


def test_preview_resolves_and_masks_secret_keys_and_config_values(cli, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    added = cli("config", "add", "--access", "default", "--access-key-id", "LTAIpreviewKeyId", "--access-key-secret",
                SECRET, "--account-id", "1234567890123456")
    assert added.returncode == 0, added.stderr
    result = cli("preview", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout and "sk-live-0123456789abcdef" not in result.stdout
    document = yaml.safe_load(result.stdout)
    agent = document["resources"]["agent"]["props"]["agent"]
    assert (agent["name"], agent["cpu"], document["resources"]["agent"]["props"]["region"]) == (
        "agent-cn-hangzhou", 2, "cn-hangzhou")
    assert agent["environmentVariables"]["OPENAI_API_KEY"] == "sk-l****ef"
    assert agent["environmentVariables"]["MODEL"] == "qwen-max"
    assert agent["environmentVariables"]["BAKED_IN"] == "key=Supe****42"
    assert "1234****56" in agent["role"]  # a value from config() is masked too


def test_preview_json_and_resource_selector(cli, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("other", "preview", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document["resources"]) == ["other"]
    assert document["vars"] == {"region": "cn-hangzhou", "cpu": 2}


def test_preview_without_credentials_leaves_config_as_text(cli, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("-o", "yaml", "preview", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    agent = yaml.safe_load(result.stdout)["resources"]["agent"]["props"]["agent"]
    assert agent["role"] == "acs:ram::${config('AccountID')}:role/R"
