"""Dependency builds for code runtimes: install requirements in the runtime's image, into ``.s/build/<resource>/``.

Python: ``pip install -r requirements.txt -t <out>``; Node.js: ``npm install --omit=dev`` (``<out>/node_modules``).
The install runs in a container of the build image (``AGENTCTL_BUILD_IMAGE`` > props ``build.image`` > a
public default per language; when that default cannot be pulled, a Python build uses the local base image
that ``scripts/make-base-image.sh`` builds, ``AGENTCTL_BASE_IMAGE``, and says so) as the invoking user,
with the code mounted read-only and the host's CA bundle and index settings passed in (see ``hostenv``).
``--local`` installs with the host's pip/npm instead.

Cache: the key hashes the manifest (and lock file), the language, the image name and id and the recipe;
it is stored beside the artifact as ``.s/build/<resource>.build.json``. An unchanged key with the
artifact still present skips the install ("cached"). The artifact is installed into a temporary
directory and swapped in only on success, so a failed build leaves the previous one intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.build.docker import TAIL_LINES, Bind, LineSink, RunResult, run
from agentctl.build.hostenv import container_setup
from agentctl.errors import BackendError, BadInput

if TYPE_CHECKING:
    from docker import DockerClient

BUILD_DIR = Path(".s") / "build"
# Bump when the install commands change, so old caches are not trusted.
RECIPE = "1"

DEFAULT_IMAGES = {
    "python3.9": "python:3.9-slim",
    "python3.10": "python:3.10-slim",
    "python3.11": "python:3.11-slim",
    "python3.12": "python:3.12-slim",
    "python3.13": "python:3.13-slim",
    "nodejs16": "node:16-slim",
    "nodejs18": "node:18-slim",
    "nodejs20": "node:20-slim",
    "nodejs22": "node:22-slim",
}
# What scripts/make-base-image.sh builds from Debian packages on machines without a registry.
LOCAL_BASE_IMAGE = "agentctl/python:3.11-bookworm"
MANIFESTS = {"python": ("requirements.txt",), "nodejs": ("package.json", "package-lock.json")}


@dataclass(frozen=True)
class Outcome:
    """What ``agentctl build`` did for one resource."""

    resource: str
    kind: str  # "dependencies" | "image" | "none"
    status: str  # "built" | "cached" | "skipped"
    target: str  # the artifact directory or the image tag
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "kind": self.kind, "status": self.status, "target": self.target,
                "detail": self.detail, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class DependencyJob:
    resource: str
    language: str  # as in s.yaml, e.g. python3.12
    family: str  # "python" | "nodejs"
    code_dir: Path
    manifest: Path
    out_dir: Path
    image: str
    # Used when ``image`` (a public default, not chosen by the user) cannot be pulled; None: no fallback.
    fallback: str | None = None

    @property
    def stamp(self) -> Path:
        return self.out_dir.with_name(self.out_dir.name + ".build.json")


def language_family(language: str) -> str | None:
    for family in MANIFESTS:
        if language.startswith(family):
            return family
    return None


def fallback_image(language: str, build_props: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The local base image for a Python build whose image is the public default (nobody chose it)."""
    chosen = environ.get("AGENTCTL_BUILD_IMAGE") or build_props.get("image")
    if chosen or language_family(language) != "python":
        return None
    return environ.get("AGENTCTL_BASE_IMAGE") or LOCAL_BASE_IMAGE


def build_image_for(language: str, build_props: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """``AGENTCTL_BUILD_IMAGE`` > props ``build.image`` > the public image of the language."""
    chosen = environ.get("AGENTCTL_BUILD_IMAGE") or build_props.get("image") or DEFAULT_IMAGES.get(language)
    if not chosen:
        raise BadInput(f"no default build image for language {language}",
                       "set `build.image` in the resource's props or AGENTCTL_BUILD_IMAGE")
    return str(chosen)


def plan(resource: str, props: Mapping[str, Any], project_dir: Path,
         environ: Mapping[str, str] | None = None) -> DependencyJob | str:
    """The dependency build of a code resource, or why there is none (a sentence)."""
    environ = os.environ if environ is None else environ
    code = (props.get("agent") or {}).get("code")
    if not isinstance(code, dict):
        return "no `agent.code` section"
    if not code.get("src"):
        return "code comes from OSS: dependencies must be inside the package"
    code_dir = (project_dir / str(code["src"])).resolve()
    if not code_dir.exists():
        raise BadInput(f"resource {resource}: code.src {code['src']} does not exist ({code_dir})",
                       "fix `agent.code.src` in s.yaml (it is relative to the s.yaml file)")
    if not code_dir.is_dir():
        return f"code.src {code['src']} is a file: dependencies must be inside it"
    language = str(code.get("language") or "")
    family = language_family(language)
    if family is None:
        return f"language {language or '(none)'}: agentctl builds Python and Node.js dependencies only"
    manifest = code_dir / MANIFESTS[family][0]
    if not manifest.is_file():
        return f"no {manifest.name} in {code['src']}"
    build_props = props.get("build") or {}
    return DependencyJob(
        resource=resource, language=language, family=family, code_dir=code_dir, manifest=manifest,
        out_dir=project_dir / BUILD_DIR / resource, image=build_image_for(language, build_props, environ),
        fallback=fallback_image(language, build_props, environ),
    )


def cache_key(job: DependencyJob, image_id: str) -> str:
    digest = hashlib.sha256(f"{RECIPE}\0{job.language}\0{job.image}\0{image_id}\0".encode())
    for name in MANIFESTS[job.family]:
        path = job.code_dir / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def is_cached(job: DependencyJob, key: str) -> bool:
    try:
        stamp = json.loads(job.stamp.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp.get("key") == key and job.out_dir.is_dir()


# A runner installs the job's dependencies into the given (empty) directory and returns the result.
Runner = Callable[[DependencyJob, Path, LineSink | None], RunResult]


def build(job: DependencyJob, runner: Runner, image_id: str, *, force: bool = False,
          on_line: LineSink | None = None) -> Outcome:
    """Install ``job``'s dependencies with ``runner`` unless the cache says they are current."""
    started = time.monotonic()
    key = cache_key(job, image_id)
    target = str(BUILD_DIR / job.out_dir.name)  # relative to the project, for people
    if not force and is_cached(job, key):
        return Outcome(job.resource, "dependencies", "cached", target, f"{job.manifest.name} unchanged, {job.image}")
    staging = job.out_dir.with_name(f".{job.out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        result = runner(job, staging, on_line)
        if result.exit_code != 0:
            raise install_failure(job, result)
        shutil.rmtree(job.out_dir, ignore_errors=True)
        staging.rename(job.out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    job.stamp.write_text(json.dumps({"key": key, "image": job.image, "imageId": image_id,
                                     "language": job.language, "manifest": str(job.manifest)}, indent=2) + "\n")
    return Outcome(job.resource, "dependencies", "built", target, f"{job.manifest.name} in {job.image}",
                   time.monotonic() - started)


def install_command(job: DependencyJob, out: str, *, python: str = "python3", npm: str = "npm") -> list[str]:
    """The install, run with the code directory as working directory."""
    if job.family == "python":
        return [python, "-m", "pip", "install", "--no-input", "--progress-bar", "off",
                "-r", job.manifest.name, "-t", out]
    # npm installs beside a package.json: copy the manifests into the output, install, drop the copies.
    return ["sh", "-c", f'cp package.json package-lock.json "{out}"/ 2>/dev/null || cp package.json "{out}"/; '
            f'cd "{out}" && {npm} install --omit=dev --no-audit --no-fund && rm -f package.json package-lock.json']


_PIP_FAILURES = (
    re.compile(r"No matching distribution found for (\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
    re.compile(r"Failed (?:to build|building wheel for) (\S+)"),
    re.compile(r"Invalid requirement: '?([^'\s]+)"),
    re.compile(r"npm (?:ERR!|error) 404 +'?([^'\s]+?)@"),
    re.compile(r"npm (?:ERR!|error) 404 Not Found - GET \S+/([^/\s]+)"),
)
_COLLECTING = re.compile(r"^Collecting (\S+)")


def failed_package(lines: list[str]) -> str | None:
    """The package that pip or npm could not install, read from its output."""
    for pattern in _PIP_FAILURES:
        for line in lines:
            match = pattern.search(line)
            if match:
                return match.group(1).strip("'\",")
    collecting = [m.group(1) for line in lines if (m := _COLLECTING.match(line))]
    return collecting[-1] if collecting else None


def install_failure(job: DependencyJob, result: RunResult) -> BackendError:
    tool = "pip" if job.family == "python" else "npm"
    package = failed_package(result.lines)
    what = f"could not install {package}" if package else f"failed (exit {result.exit_code})"
    return BackendError(
        f"{tool} {what} for resource {job.resource} ({job.manifest}, image {job.image})",
        f"fix {job.manifest.name}; --debug streams the whole output. Last lines of {tool}:\n{result.tail(15)}",
    )


def docker_runner(client: DockerClient, environ: Mapping[str, str] | None = None) -> Runner:
    """A runner that installs inside a container of the job's image, as the invoking user."""
    setup = container_setup(environ)

    def run_in_container(job: DependencyJob, out: Path, on_line: LineSink | None) -> RunResult:
        binds = [Bind(job.code_dir, "/code"), Bind(out, "/out", read_only=False)]
        binds += [Bind(Path(host), inside) for host, inside in setup.mounts.items()]
        # A non-root user has no writable home in the image: caches go to /tmp.
        env = {"HOME": "/tmp", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore",
               "PIP_NO_CACHE_DIR": "1", "npm_config_cache": "/tmp/.npm", "npm_config_update_notifier": "false",
               **setup.environment}
        return run(client, job.image, install_command(job, "/out"), binds=binds, environment=env,
                   user=f"{os.getuid()}:{os.getgid()}", workdir="/code", host_network=setup.host_network,
                   on_line=on_line)

    return run_in_container


def local_runner(job: DependencyJob, out: Path, on_line: LineSink | None) -> RunResult:
    """Install with this machine's Python/npm (``agentctl build --local``): no isolation, may differ from runtime."""
    npm = shutil.which("npm") or "npm"
    command = install_command(job, str(out), python=sys.executable, npm=npm)
    if job.family == "nodejs" and not shutil.which("npm"):
        raise BadInput("npm is not installed on this machine", "install Node.js, or build in Docker (drop --local)")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    process = subprocess.Popen(command, cwd=job.code_dir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.rstrip("\n")
        tail.append(line)
        if on_line:
            on_line(line)
    return RunResult(exit_code=process.wait(), lines=list(tail))


def local_image_id() -> str:
    """What stands for the image in the cache key of a local build: this interpreter and platform."""
    return f"local:{sys.platform}:{sys.version.split()[0]}:{sys.executable}"
