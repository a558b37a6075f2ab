"""The alias file: round trips, 0600 atomic writes, clear errors, and which credentials win."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agentctl.access import AccessStore, Credentials, credentials_from_env, resolve_access
from agentctl.errors import BadInput, NotFound

KEYS = Credentials("LTAIexampleKeyId01", "exampleSecretValue0123456789", account_id="1234567890123456")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_put_get_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "access.yaml")
    full = Credentials("id", "secret", "42", "token", "cn-hangzhou", "http://127.0.0.1:1")
    store.put("full", full)
    assert AccessStore(tmp_path / "access.yaml").get("full") == full
    assert store.get("absent") is None


def test_file_is_0600_even_when_it_was_readable_before(tmp_path: Path) -> None:
    path = tmp_path / "home" / "access.yaml"
    store = AccessStore(path)
    store.put("default", KEYS)
    assert mode(path) == 0o600
    path.chmod(0o644)
    store.put("other", KEYS)
    assert mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_delete_and_rename_keep_order_and_report_missing_aliases(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "access.yaml")
    for alias in ("a", "b", "c"):
        store.put(alias, KEYS)
    store.rename("b", "bee")
    assert store.aliases() == ["a", "bee", "c"]
    store.delete("a")
    assert store.aliases() == ["bee", "c"]
    with pytest.raises(NotFound, match=r"'a'.*known: bee, c"):
        store.delete("a")
    with pytest.raises(BadInput, match="already exists"):
        store.rename("bee", "c")
    with pytest.raises(NotFound):
        store.rename("zzz", "y")


@pytest.mark.parametrize("alias", ["", "has space", "-lead", "x" * 65, "a/b"])
def test_invalid_alias_names_are_refused(tmp_path: Path, alias: str) -> None:
    with pytest.raises(BadInput, match="invalid alias"):
        AccessStore(tmp_path / "access.yaml").put(alias, KEYS)


@pytest.mark.parametrize("text, error", [
    ("default: [unclosed", "not valid YAML"),
    ("- a\n- b\n", "must map alias names"),
    ("default: just-text\n", "is not a mapping"),
    ("default:\n  AccessKeyID: x\n", "has no AccessKeySecret"),
])
def test_broken_files_give_one_clear_error(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "access.yaml"
    path.write_text(text)
    with pytest.raises(BadInput, match=error) as caught:
        AccessStore(path).get("default")
    assert caught.value.hint


def test_numeric_account_id_written_by_hand_reads_as_text(tmp_path: Path) -> None:
    path = tmp_path / "access.yaml"
    path.write_text("default:\n  AccessKeyID: i\n  AccessKeySecret: s\n  AccountID: 1234567890\n")
    assert AccessStore(path).require("default").account_id == "1234567890"


ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"}


def test_flag_alias_wins_over_everything(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "access.yaml")
    store.put("prod", KEYS)
    chosen = resolve_access("prod", "default", store, ENV)
    assert (chosen.alias, chosen.source, chosen.credentials) == ("prod", "--access", KEYS)
    missing = resolve_access("nope", None, store, ENV)
    assert (missing.alias, missing.credentials) == ("nope", None)


def test_stored_spec_alias_beats_environment_which_beats_default(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "access.yaml")
    store.put("default", KEYS)
    store.put("dev", Credentials("dev-id", "dev-secret"))
    assert resolve_access(None, "dev", store, ENV).source == "s.yaml"
    from_env = resolve_access(None, None, store, ENV)
    assert (from_env.alias, from_env.source, from_env.credentials.access_key_id) == ("env", "environment", "env-id")
    assert resolve_access(None, None, store, {}).credentials == KEYS


def test_spec_alias_that_does_not_exist_yields_no_credentials(tmp_path: Path) -> None:
    chosen = resolve_access(None, "cloud-prod", AccessStore(tmp_path / "access.yaml"), {})
    assert (chosen.alias, chosen.credentials, chosen.source) == ("cloud-prod", None, "s.yaml")


def test_agentrun_variables_win_over_alibaba_cloud_ones() -> None:
    creds = credentials_from_env({**ENV, "AGENTRUN_ACCESS_KEY_ID": "ar-id", "AGENTRUN_ACCESS_KEY_SECRET": "ar-s",
                                  "AGENTRUN_ACCOUNT_ID": "77", "AGENTRUN_REGION": "cn-shanghai",
                                  "ALIBABA_CLOUD_SECURITY_TOKEN": "tok"})
    assert creds == Credentials("ar-id", "ar-s", "77", "tok", "cn-shanghai")
    assert credentials_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "only-id"}) is None
