"""Image builds for ``customContainerConfig`` resources: the project's Dockerfile, tagged with the config's image.

Where (props ``build``, paths relative to s.yaml): ``context`` (default ``./code`` when it holds the
Dockerfile, else the s.yaml folder), ``dockerfile`` (relative to the context, default ``Dockerfile``),
``args`` (build args). ``AGENTCTL_BUILD_IMAGE``, when set, is also passed as the ``BASE_IMAGE`` build arg,
so a Dockerfile that starts ``ARG BASE_IMAGE=...`` / ``FROM ${BASE_IMAGE}`` builds on machines that
cannot pull (from the image of scripts/make-base-image.sh). Without a Dockerfile the image is used as is.
Docker's layer cache makes an unchanged rebuild quick; there is no cache of our own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.build.dependencies import Outcome
from agentctl.build.docker import LineSink, build_image, find_image
from agentctl.errors import BadInput

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass(frozen=True)
class ImageJob:
    resource: str
    tag: str
    context: Path
    dockerfile: Path | None  # None: nothing to build, the image is used as is
    buildargs: dict[str, str] = field(default_factory=dict)


def plan(resource: str, props: Mapping[str, Any], project_dir: Path,
         environ: Mapping[str, str] | None = None) -> ImageJob | None:
    """The image build of a container resource, or None when the resource has no ``customContainerConfig``."""
    environ = os.environ if environ is None else environ
    config = (props.get("agent") or {}).get("customContainerConfig")
    if not isinstance(config, dict):
        return None
    tag = config.get("image")
    if not tag:
        raise BadInput(f"resource {resource}: customContainerConfig has no image",
                       "set `agent.customContainerConfig.image` (the tag agentctl builds and deploys)")
    build = props.get("build") or {}
    context = _context(resource, build, project_dir)
    dockerfile = context / str(build.get("dockerfile") or "Dockerfile")
    if not dockerfile.is_file():
        if build.get("dockerfile"):
            raise BadInput(f"resource {resource}: Dockerfile {dockerfile} does not exist",
                           "fix `build.dockerfile` (relative to `build.context`)")
        return ImageJob(resource, str(tag), context, None)
    args = {str(k): str(v) for k, v in (build.get("args") or {}).items()}
    if environ.get("AGENTCTL_BUILD_IMAGE"):
        args["BASE_IMAGE"] = environ["AGENTCTL_BUILD_IMAGE"]
    return ImageJob(resource, str(tag), context, dockerfile, args)


def _context(resource: str, build: Mapping[str, Any], project_dir: Path) -> Path:
    if build.get("context"):
        context = (project_dir / str(build["context"])).resolve()
        if not context.is_dir():
            raise BadInput(f"resource {resource}: build context {build['context']} is not a directory ({context})",
                           "fix `build.context` (relative to the s.yaml file)")
        return context
    code = project_dir / "code"
    return code if (code / str(build.get("dockerfile") or "Dockerfile")).is_file() else project_dir


def build(job: ImageJob, client: DockerClient, *, on_line: LineSink | None = None) -> Outcome:
    """Build and tag the image; without a Dockerfile, report whether the image is already local."""
    started = time.monotonic()
    if job.dockerfile is None:
        present = find_image(client, job.tag) is not None
        detail = (f"no Dockerfile in {job.context}; the local image is used as is" if present
                  else f"no Dockerfile in {job.context} and the image is not local: deploy pulls it from its registry")
        return Outcome(job.resource, "image", "skipped", job.tag, detail)
    image_id = build_image(client, job.context, str(job.dockerfile.relative_to(job.context))
                           if job.dockerfile.is_relative_to(job.context) else str(job.dockerfile),
                           job.tag, buildargs=job.buildargs, on_line=on_line)
    return Outcome(job.resource, "image", "built", job.tag, f"{image_id[:19]} from {job.dockerfile}",
                   time.monotonic() - started)
