"""Credential aliases: ``$AGENTCTL_HOME/access.yaml`` and how one alias is chosen.

The file has the shape of Serverless Devs' ``~/.s/access.yaml`` (plain values)::

    default:
      AccessKeyID: LTAI...
      AccessKeySecret: ...
      AccountID: "1234567890"
      SecurityToken: ...        # optional (STS)
      Region: cn-hangzhou       # optional
      Endpoint: http://...      # optional; the emulator's `local` alias sets it

It is written atomically (temp file + rename) with mode 0600, under a lock so
that the emulator and ``config add`` never lose each other's writes.

Which credentials a command uses (``resolve_access``), first match wins:

1. ``-a ALIAS`` on the command line: that stored alias, and nothing else
   (the environment is ignored; a missing alias yields ``credentials=None``).
2. The s.yaml ``access`` alias, when it is stored in access.yaml.
3. Keys in the environment: ``AGENTRUN_ACCESS_KEY_ID``/``AGENTRUN_ACCESS_KEY_SECRET``,
   else ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``ALIBABA_CLOUD_ACCESS_KEY_SECRET``; with
   ``AGENTRUN_ACCOUNT_ID`` (or ``ALIBABA_CLOUD_ACCOUNT_ID``), ``ALIBABA_CLOUD_SECURITY_TOKEN``
   (or ``AGENTRUN_SECURITY_TOKEN``) and ``AGENTRUN_REGION`` (or ``ALIBABA_CLOUD_REGION``).
   The alias is then reported as ``env``.
4. The stored alias ``default``, when s.yaml names no alias.

Otherwise ``credentials`` is ``None`` and the caller decides (DESIGN §3: a missing
alias named by s.yaml means the local emulator). An explicit s.yaml alias that
exists beats the environment because the project chose it; the environment beats
``default`` so that CI can inject keys without an access file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agentctl import paths
from agentctl.errors import BadInput, NotFound

ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ENV_ALIAS = "env"

# Credentials attribute -> key in access.yaml (the Serverless Devs spelling).
_FILE_KEYS = {
    "access_key_id": "AccessKeyID",
    "access_key_secret": "AccessKeySecret",
    "account_id": "AccountID",
    "security_token": "SecurityToken",
    "region": "Region",
    "endpoint": "Endpoint",
}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    account_id: str | None = None
    security_token: str | None = None
    region: str | None = None
    endpoint: str | None = None

    def to_file(self) -> dict[str, str]:
        """The access.yaml mapping, empty optional fields left out."""
        return {_FILE_KEYS[f.name]: value for f in fields(self) if (value := getattr(self, f.name))}

    def config_value(self, key: str) -> str | None:
        """The value s.yaml's ``${config('Key')}`` gives, by its access.yaml key (``AccountID``, ...)."""
        return self.to_file().get(key)

    @classmethod
    def from_file(cls, alias: str, data: Any, where: Path) -> Credentials:
        if not isinstance(data, Mapping):
            raise BadInput(f"{where}: alias {alias!r} is not a mapping",
                           hint="An alias needs AccessKeyID and AccessKeySecret; re-add it: `agentctl config add`.")
        values = {attr: _text(data.get(key)) for attr, key in _FILE_KEYS.items()}
        missing = [_FILE_KEYS[a] for a in ("access_key_id", "access_key_secret") if not values[a]]
        if missing:
            raise BadInput(f"{where}: alias {alias!r} has no {' or '.join(missing)}",
                           hint=f"Re-add it: agentctl config add --access {alias} --access-key-id ... "
                                "--access-key-secret ...")
        return cls(**values)  # type: ignore[arg-type]  # the two required values were checked above


def _text(value: Any) -> str | None:
    # AccountID is often written unquoted and read back as an int.
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class ResolvedAccess:
    alias: str
    credentials: Credentials | None
    # Where the choice came from: "--access", "s.yaml", "environment" or "default".
    source: str


def check_alias(alias: str) -> str:
    import re

    if not re.match(ALIAS_PATTERN, alias or ""):
        raise BadInput(f"invalid alias name {alias!r}",
                       hint="Use letters, digits, '.', '_' or '-' (up to 64 characters), e.g. `default` or `prod`.")
    return alias


class AccessStore:
    """The alias file. Every change is read-modify-write under a lock, then an atomic rename."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.access_file()

    def aliases(self) -> list[str]:
        return list(self._read())

    def get(self, alias: str) -> Credentials | None:
        data = self._read().get(alias)
        return None if data is None else Credentials.from_file(alias, data, self.path)

    def require(self, alias: str) -> Credentials:
        """The alias's credentials, or NotFound naming the aliases that exist."""
        data = self._read()
        if alias not in data:
            raise self._not_found(alias, data)
        return Credentials.from_file(alias, data[alias], self.path)

    def put(self, alias: str, creds: Credentials) -> None:
        check_alias(alias)
        with self._locked():
            data = self._read()
            data[alias] = creds.to_file()
            self._write(data)

    def delete(self, alias: str) -> None:
        with self._locked():
            data = self._read()
            if alias not in data:
                raise self._not_found(alias, data)
            del data[alias]
            self._write(data)

    def rename(self, old: str, new: str) -> None:
        check_alias(new)
        with self._locked():
            data = self._read()
            if old not in data:
                raise self._not_found(old, data)
            if new in data:
                raise BadInput(f"alias {new!r} already exists",
                               hint=f"Delete it first (agentctl config delete --access {new}) or pick another name.")
            # Rebuild to keep the alias at its old position in the file.
            self._write({(new if key == old else key): value for key, value in data.items()})

    def _not_found(self, alias: str, data: Mapping[str, Any]) -> NotFound:
        known = ", ".join(data) or "none"
        return NotFound(f"no credential alias {alias!r} in {self.path} (known: {known})",
                        hint="List them with `agentctl config get`; add one with `agentctl config add`.")

    def _read(self) -> dict[str, Any]:
        import yaml

        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise BadInput(f"cannot read {self.path}: {exc.strerror}",
                           hint="Check the file's permissions, or set AGENTCTL_HOME to another directory.") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BadInput(f"{self.path} is not valid YAML: {str(exc).splitlines()[0]}",
                           hint="Fix the file by hand, or delete it and add the aliases again.") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise BadInput(f"{self.path} must map alias names to credentials",
                           hint="Fix the file by hand, or delete it and add the aliases again.")
        return {str(key): value for key, value in data.items()}

    def _write(self, data: Mapping[str, Any]) -> None:
        import yaml

        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False)
        # mkstemp creates the file 0600 from the start: the secret is never world-readable, not even briefly.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".access.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: atomic rename still avoids torn files
            yield
            return
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


def credentials_from_env(environ: Mapping[str, str] = os.environ) -> Credentials | None:
    """Keys from the environment (AGENTRUN_* before ALIBABA_CLOUD_*), or None when there are none."""
    for prefix in ("AGENTRUN_", "ALIBABA_CLOUD_"):
        key_id, secret = environ.get(prefix + "ACCESS_KEY_ID"), environ.get(prefix + "ACCESS_KEY_SECRET")
        if key_id and secret:
            return Credentials(
                access_key_id=key_id,
                access_key_secret=secret,
                account_id=_first(environ, "AGENTRUN_ACCOUNT_ID", "ALIBABA_CLOUD_ACCOUNT_ID"),
                security_token=_first(environ, prefix + "SECURITY_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN"),
                region=_first(environ, "AGENTRUN_REGION", "ALIBABA_CLOUD_REGION"),
            )
    return None


def resolve_access(
    cli_alias: str | None,
    spec_alias: str | None,
    store: AccessStore | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ResolvedAccess:
    """Pick the credentials for a command (order in the module docstring)."""
    store = store or AccessStore()
    if cli_alias:
        return ResolvedAccess(cli_alias, store.get(cli_alias), "--access")
    if spec_alias and (creds := store.get(spec_alias)) is not None:
        return ResolvedAccess(spec_alias, creds, "s.yaml")
    if (creds := credentials_from_env(environ)) is not None:
        return ResolvedAccess(ENV_ALIAS, creds, "environment")
    if spec_alias:
        return ResolvedAccess(spec_alias, None, "s.yaml")
    return ResolvedAccess("default", store.get("default"), "default")


# --- Serverless Devs import ------------------------------------------------------------------
# `s config add` stores every value as crypto-js `AES.encrypt(value, "SecretKey123")`: the OpenSSL
# format (base64 of "Salted__" + 8-byte salt + AES-256-CBC ciphertext, key and IV from MD5
# EVP_BytesToKey). Older files hold plain values; `s` keeps any value it cannot decrypt as it is.
SDEVS_PASSPHRASE = b"SecretKey123"
_SALTED = b"Salted__"


def sdevs_access_file() -> Path:
    return Path.home() / ".s" / "access.yaml"


def _evp_bytes_to_key(passphrase: bytes, salt: bytes) -> tuple[bytes, bytes]:
    import hashlib

    derived, block = b"", b""
    while len(derived) < 48:
        block = hashlib.md5(block + passphrase + salt).digest()
        derived += block
    return derived[:32], derived[32:48]


def decrypt_sdevs_value(value: str) -> str:
    """The plain text of a Serverless Devs access value; a value that is not encrypted comes back unchanged."""
    import base64
    import binascii

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    if len(raw) < 32 or not raw.startswith(_SALTED) or (len(raw) - 16) % 16:
        return value
    key, iv = _evp_bytes_to_key(SDEVS_PASSPHRASE, raw[8:16])
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize()) + unpadder.finalize()
        return plain.decode("utf-8") or value
    except (ValueError, UnicodeDecodeError):  # another passphrase, or not ciphertext after all
        return value


def read_sdevs_access(path: Path | None = None) -> dict[str, Credentials]:
    """The Alibaba Cloud aliases of a Serverless Devs access file, decrypted (other providers are skipped)."""
    path = path or sdevs_access_file()
    if not path.is_file():
        raise NotFound(f"no Serverless Devs access file at {path}",
                       hint="Give its path (agentctl config add --import-sdevs PATH), or add keys with flags.")
    found: dict[str, Credentials] = {}
    for alias, data in AccessStore(path)._read().items():
        if not isinstance(data, Mapping):
            continue
        plain = {str(key): decrypt_sdevs_value(str(value)) for key, value in data.items() if value is not None}
        if plain.get("AccessKeyID") and plain.get("AccessKeySecret"):
            found[alias] = Credentials.from_file(alias, plain, path)
    return found
