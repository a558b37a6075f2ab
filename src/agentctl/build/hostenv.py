"""What of the host's package-manager setup a build container needs (corporate proxies, private indexes).

The host may sit behind an intercepting proxy whose CA is only in the host's bundle, or use a private
package index. ``container_setup()`` collects those settings (environment first, then pip's config files)
and turns them into a read-only mount of the CA bundle plus environment variables for pip and npm.
Only http(s) indexes are passed: ``file://`` indexes and find-links name host paths the container lacks.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CA_IN_CONTAINER = "/etc/agentctl/ca-bundle.crt"

# Variables that carry an HTTP proxy; passed through unchanged.
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
# Where the CA bundle may be named, in order of preference (pip's own setting first).
_CA_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
# The pip settings that matter inside a build container.
_PIP_KEYS = ("cert", "index-url", "extra-index-url", "trusted-host")


@dataclass(frozen=True)
class ContainerSetup:
    """Mounts (host path → container path, read-only) and environment for a build container."""

    mounts: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    # True when a proxy listens on the host's loopback: the container must share the host network.
    host_network: bool = False


def pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files, lowest priority first (global, user, site), as pip reads them."""
    if environ.get("PIP_CONFIG_FILE") == os.devnull:
        return []
    home = Path(environ.get("HOME") or Path.home())
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs] + [Path("/etc/pip.conf")]
    files += [home / ".pip" / "pip.conf", Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return [f for f in files if f.is_file()]


def pip_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """pip's effective ``cert``, ``index-url``, ``extra-index-url`` and ``trusted-host`` (env wins)."""
    settings: dict[str, str] = {}
    for path in pip_config_files(environ):
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue  # pip itself would complain; a broken file must not break the build
        for section in ("global", "install"):
            if parser.has_section(section):
                settings.update({k: v for k, v in parser.items(section) if k in _PIP_KEYS})
    for key in _PIP_KEYS:
        value = environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    return settings



def _http_only(urls: str) -> str:
    return " ".join(u for u in urls.split() if u.startswith(("http://", "https://")))


def ca_bundle(environ: Mapping[str, str], pip: Mapping[str, str]) -> Path | None:
    """The host's CA bundle for package downloads, if one is configured and exists."""
    candidates = [environ.get("PIP_CERT"), pip.get("cert")] + [environ.get(v) for v in _CA_VARS[1:]]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def _is_loopback_proxy(url: str) -> bool:
    return any(host in url for host in ("://127.", "://localhost", "://[::1]"))


def container_setup(environ: Mapping[str, str] | None = None) -> ContainerSetup:
    """The mounts and environment that carry the host's CA bundle, indexes and proxies into a container."""
    environ = os.environ if environ is None else environ
    pip = pip_settings(environ)
    mounts: dict[str, str] = {}
    env: dict[str, str] = {}
    bundle = ca_bundle(environ, pip)
    if bundle:
        mounts[str(bundle)] = CA_IN_CONTAINER
        for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "npm_config_cafile"):
            env[name] = CA_IN_CONTAINER
    if _http_only(pip.get("index-url", "")):
        env["PIP_INDEX_URL"] = _http_only(pip["index-url"])
    if _http_only(pip.get("extra-index-url", "")):
        env["PIP_EXTRA_INDEX_URL"] = _http_only(pip["extra-index-url"])
    if pip.get("trusted-host"):
        env["PIP_TRUSTED_HOST"] = pip["trusted-host"]
    for name in ("NPM_CONFIG_REGISTRY", "npm_config_registry"):
        if environ.get(name):
            env["npm_config_registry"] = environ[name]
    proxies = {name: environ[name] for name in _PROXY_VARS if environ.get(name)}
    env.update(proxies)
    loopback = any(_is_loopback_proxy(v) for k, v in proxies.items() if "no_proxy" not in k.lower())
    return ContainerSetup(mounts=mounts, environment=env, host_network=loopback)
