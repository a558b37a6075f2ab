"""`agentctl config ...` as a user runs it: real subprocess, real access file."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
from pathlib import Path

import yaml

SECRET = "wJalrXUtnFEMI0K7MDENGbPxRfiCYEXAMPLEKEY"
KEY_ID = "LTAI5tExampleKeyId99"
ADD = ("config", "add", "--access", "prod", "--access-key-id", KEY_ID, "--access-key-secret", SECRET,
       "--account-id", "1234567890123456", "--region", "cn-hangzhou", "--security-token", "STS.tokenvalue123456")


def test_add_with_flags_writes_a_0600_file(cli, agentctl_home: Path) -> None:
    result = cli(*ADD)
    assert result.returncode == 0, result.stderr
    path = agentctl_home / "access.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["prod"]["AccessKeySecret"] == SECRET


def test_get_never_prints_a_full_secret_in_any_format(cli) -> None:
    assert cli(*ADD).returncode == 0
    for args in (("config", "get"), ("-o", "json", "config", "get"), ("config", "get", "-o", "yaml"),
                 ("config", "get", "--access", "prod"), ("-o", "json", "config", "get", "-a", "prod")):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        out = result.stdout + result.stderr
        for secret in (SECRET, KEY_ID, "STS.tokenvalue123456"):
            assert secret not in out
        assert "wJal****EY" in out
    listed = json.loads(cli("-o", "json", "config", "get").stdout)
    assert listed[0]["Alias"] == "prod" and listed[0]["AccountID"] == "1234567890123456"


def test_add_without_flags_or_terminal_refuses_with_a_hint(cli) -> None:
    result = cli("config", "add", "--access", "x", "--access-key-id", "id")
    assert result.returncode == 2
    assert "--access-key-secret" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_replacing_an_alias_needs_yes_without_terminal(cli) -> None:
    assert cli(*ADD).returncode == 0
    refused = cli(*ADD)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    assert cli(*ADD, "-y").returncode == 0


def test_delete_asks_for_yes_and_rename_moves_the_alias(cli) -> None:
    assert cli(*ADD).returncode == 0
    assert cli("config", "rename", "prod", "live").returncode == 0
    refused = cli("config", "delete", "--access", "live")
    assert refused.returncode == 2 and "-y" in refused.stderr
    assert cli("config", "delete", "--access", "live", "-y").returncode == 0
    gone = cli("config", "get", "--access", "live")
    assert gone.returncode == 3 and "no credential alias 'live'" in gone.stderr


def test_bad_inputs_exit_with_one_message_and_a_hint(cli) -> None:
    for args, code in ((("config", "rename", "nope", "x"), 3), (("config", "delete", "-y"), 2),
                       (("config", "add", "--access", "bad name", "--access-key-id", "i",
                         "--access-key-secret", "s"), 2),
                       (("config", "get", "-o", "xml"), 2)):
        result = cli(*args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and "Hint: " in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_import_from_serverless_devs_file(cli, tmp_path: Path) -> None:
    vectors = json.loads((Path(__file__).parents[1] / "access" / "sdevs_vectors.json").read_text())["vectors"]
    sfile = tmp_path / "access.yaml"
    sfile.write_text(f"default:\n  AccessKeyID: {vectors[0][1]}\n  AccessKeySecret: {vectors[1][1]}\n"
                     f"  AccountID: {vectors[2][1]}\n")
    result = cli("config", "add", "--import-sdevs", "--sdevs-file", str(sfile))
    assert result.returncode == 0, result.stderr
    shown = json.loads(cli("-o", "json", "config", "get", "-a", "default").stdout)
    assert shown["AccountID"] == vectors[2][0] and shown["AccessKeyID"] == "LTAI****Mn"
    again = cli("config", "add", "--import-sdevs", "--sdevs-file", str(sfile))
    assert again.returncode == 0 and "Skipped 'default'" in again.stderr


def test_add_prompts_on_a_terminal_and_hides_the_secret(agentctl_home: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: agentctl on a real terminal
        os.environ.update({"AGENTCTL_HOME": str(agentctl_home), "NO_COLOR": "1"})
        os.execv(sys.executable, [sys.executable, "-m", "agentctl", "config", "add", "--access", "tty"])
    seen = b""
    try:
        # Answer each prompt only once it is shown: the hidden prompt discards what was typed ahead.
        for prompt, answer in ((b"AccessKeyID: ", b"KEYID-typed"), (b"AccessKeySecret: ", SECRET.encode()),
                               (b"(optional): ", b"99")):
            seen += _read_until(fd, prompt)
            os.write(fd, answer + b"\n")
        seen += _read_until(fd, b"Saved")
    finally:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still running: never leave it behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert b"Saved alias 'tty'" in seen
    assert SECRET.encode() not in seen  # the secret is not echoed
    stored = yaml.safe_load((agentctl_home / "access.yaml").read_text())["tty"]
    assert stored == {"AccessKeyID": "KEYID-typed", "AccessKeySecret": SECRET, "AccountID": "99"}


def _read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    """Terminal output up to ``marker`` (or what came before the child went quiet for ``timeout`` s)."""
    data = b""
    while marker not in data:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def test_help_lists_the_config_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "agentctl", "config", "--help"], capture_output=True, text=True)
    for command in ("add", "get", "delete", "rename"):
        assert command in out.stdout
