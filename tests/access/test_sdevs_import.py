"""Serverless Devs access files: crypto-js AES values decrypt, plain values pass through."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agentctl.access import decrypt_sdevs_value, read_sdevs_access
from agentctl.errors import NotFound

VECTORS = json.loads((Path(__file__).with_name("sdevs_vectors.json")).read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("plain, encrypted", VECTORS)
def test_values_encrypted_by_crypto_js_decrypt(plain: str, encrypted: str) -> None:
    assert decrypt_sdevs_value(encrypted) == plain


@pytest.mark.parametrize("value", ["LTAI5tPlainKey", "plain secret with spaces", "U2FsdGVkX1", "",
                                   # crypto-js output under another passphrase: s keeps such a value as it is
                                   "U2FsdGVkX1/z7UZ3LmZpEklUFsokyYVjkRAb4AhTytd/h4QjF1ib2EFk2LFOkWPs"])
def test_values_that_are_not_our_ciphertext_stay_unchanged(value: str) -> None:
    assert decrypt_sdevs_value(value) == value


def test_reads_encrypted_and_plain_aliases_and_skips_other_providers(tmp_path: Path) -> None:
    key_id, secret, account = VECTORS[0][1], VECTORS[1][1], VECTORS[2][1]
    path = tmp_path / "access.yaml"
    path.write_text(
        f"default:\n  __provider: {VECTORS[3][1]}\n  AccessKeyID: {key_id}\n  AccessKeySecret: {secret}\n"
        f"  AccountID: {account}\n"
        "old:\n  AccountID: 42\n  AccessKeyID: plain-id\n  AccessKeySecret: plain-secret\n"
        "aws:\n  AccessKeyID: a\n  SecretAccessKey: b\n"
    )
    found = read_sdevs_access(path)
    assert list(found) == ["default", "old"]
    assert (found["default"].access_key_id, found["default"].access_key_secret, found["default"].account_id) == (
        VECTORS[0][0], VECTORS[1][0], VECTORS[2][0])
    assert found["old"].account_id == "42"


def test_missing_file_is_not_found_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no Serverless Devs access file") as caught:
        read_sdevs_access(tmp_path / "nope.yaml")
    assert "--import-sdevs" in (caught.value.hint or "")


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs node and npm")
def test_decrypts_a_value_crypto_js_encrypts_now(tmp_path: Path) -> None:
    """Against the real library: fresh salt, so this is not just the committed vectors."""
    subprocess.run(["npm", "install", "--silent", "--prefix", str(tmp_path), "crypto-js@4"], check=True,
                   capture_output=True, timeout=240)
    plain = "fresh-Secret/ü+0123456789"
    script = ("const C=require('crypto-js');"
              "process.stdout.write(C.AES.encrypt(process.argv[1],'SecretKey123').toString())")
    out = subprocess.run(["node", "-e", script, plain], cwd=tmp_path, check=True, capture_output=True, text=True,
                         timeout=60, env={"NODE_PATH": str(tmp_path / "node_modules"), "PATH": "/usr/bin:/bin:"
                                          + str(Path(shutil.which("node") or "").parent)})
    assert out.stdout.startswith("U2FsdGVkX1")
    assert decrypt_sdevs_value(out.stdout) == plain
