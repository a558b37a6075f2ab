"""Docker engine access for builds: reach the engine, find or pull an image, run a build container, build an image.

Every Docker SDK exception is mapped here to an ``agentctl.errors`` type with a hint, so callers never see
``docker.errors``. The SDK is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.errors import BackendError, NotFound

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

LineSink = Callable[[str], None]

START_HINT = (
    "start it (`sudo systemctl start docker`, or `sudo nohup dockerd >/tmp/dockerd.log 2>&1 &`; "
    "scripts/ci-provision.sh installs and starts it), or build on this machine with `agentctl build --local`"
)
BASE_IMAGE_HINT = (
    "pull it with `docker pull {image}`; without a registry, build the local base image with "
    "`sudo scripts/make-base-image.sh` (a Python build then uses agentctl/python:3.11-bookworm by itself), "
    "or choose an image with AGENTCTL_BUILD_IMAGE or `build.image` in the resource's props"
)
# How much container output is kept for error messages.
TAIL_LINES = 400


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine(timeout: float = 30) -> DockerClient:
    """A client of a reachable engine, else ``BackendError("Docker is not running")`` with how to start it."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        if "permission denied" in str(exc).lower():
            raise BackendError(f"permission denied on the Docker engine at {engine_address()}",
                               "add your user to the `docker` group (then log in again), or run as root") from exc
        raise BackendError(f"Docker is not running (no engine answers at {engine_address()})", START_HINT) from exc
    return client


def find_image(client: DockerClient, name: str) -> Image | None:
    """The local image called ``name``, or None."""
    from docker.errors import DockerException, ImageNotFound

    try:
        return client.images.get(name)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise BackendError(f"Docker could not look up image {name}: {_reason(exc)}", START_HINT) from exc


def ensure_image(client: DockerClient, name: str, *, hint: str | None = None, say: LineSink | None = None) -> Image:
    """The local image ``name``, pulled when absent; ``NotFound`` naming the image and how to get it."""
    from docker.errors import DockerException

    image = find_image(client, name)
    if image is not None:
        return image
    if say:
        say(f"Pulling {name} ...")
    try:
        return client.images.pull(name)
    except DockerException as exc:
        raise NotFound(
            f"Docker image {name} is not on this machine and could not be pulled: {_reason(exc)}",
            hint or BASE_IMAGE_HINT.format(image=name),
        ) from exc


@dataclass(frozen=True)
class Bind:
    """A host path mounted into a container."""

    host: Path
    container: str
    read_only: bool = True


@dataclass
class RunResult:
    exit_code: int
    # The last ``TAIL_LINES`` lines the container wrote (stdout and stderr interleaved).
    lines: list[str] = field(default_factory=list)

    def tail(self, count: int = 20) -> str:
        return "\n".join(self.lines[-count:])


def run(
    client: DockerClient,
    image: str,
    command: list[str],
    *,
    binds: Iterable[Bind] = (),
    environment: dict[str, str] | None = None,
    user: str | None = None,
    workdir: str | None = None,
    host_network: bool = False,
    on_line: LineSink | None = None,
) -> RunResult:
    """Run ``command`` in a throwaway container, stream its output to ``on_line``, return its exit code and tail."""
    from docker.errors import DockerException

    volumes = {str(b.host): {"bind": b.container, "mode": "ro" if b.read_only else "rw"} for b in binds}
    container: Any = None
    try:
        container = client.containers.run(
            image, command, detach=True, volumes=volumes, environment=environment or {}, user=user,
            working_dir=workdir, network_mode="host" if host_network else None,
            labels={"agentctl.role": "build"},
        )
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        for line in _lines(container.logs(stream=True, follow=True)):
            tail.append(line)
            if on_line:
                on_line(line)
        status = container.wait()
        return RunResult(exit_code=int(status.get("StatusCode", 1)), lines=list(tail))
    except DockerException as exc:
        raise BackendError(f"Docker could not run {image}: {_reason(exc)}",
                           "check `docker info`; --debug shows more") from exc
    finally:
        if container is not None:
            _remove(container)


def build_image(
    client: DockerClient,
    context: Path,
    dockerfile: str,
    tag: str,
    *,
    buildargs: dict[str, str] | None = None,
    on_line: LineSink | None = None,
) -> str:
    """``docker build`` of ``context`` with ``dockerfile`` (relative to context), tagged ``tag``; the image id."""
    from docker.errors import DockerException

    tail: deque[str] = deque(maxlen=TAIL_LINES)
    image_id = ""
    try:
        stream = client.api.build(
            path=str(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs or {}, rm=True, forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise BackendError(
                    f"docker build of {tag} failed: {chunk['error'].strip()}",
                    f"fix {dockerfile} in {context}; the last build output was:\n" + "\n".join(list(tail)[-15:]),
                )
            image_id = chunk.get("aux", {}).get("ID", image_id)
            for line in _lines([chunk.get("stream", "").encode()]):
                tail.append(line)
                if on_line:
                    on_line(line)
    except DockerException as exc:
        raise BackendError(f"docker build of {tag} failed: {_reason(exc)}", f"check {context / dockerfile}") from exc
    return image_id or client.images.get(tag).id


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Whole lines from a byte stream cut anywhere."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *done, pending = pending.split(b"\n")
        for raw in done:
            if raw.strip():
                yield raw.decode("utf-8", "replace").rstrip("\r")
    if pending.strip():
        yield pending.decode("utf-8", "replace")


def _remove(container: Any) -> None:
    from docker.errors import DockerException

    # Already gone (the engine removed it or stopped): nothing left to clean up.
    with contextlib.suppress(DockerException):
        container.remove(force=True)


def _reason(exc: Exception) -> str:
    """The engine's own words, without the SDK's wrapping."""
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
