"""``agentctl build`` for one resource at a time: pick the kind of build, reach Docker once, report an Outcome.

    builder = Builder(project.dir, progress=say)
    outcome = builder.build(resource.name, resource.props)

A ``customContainerConfig`` resource builds its image (``container``); a code resource installs its
dependencies (``dependencies``), in Docker or, with ``local=True``, on this machine with a warning.
The Docker engine is reached only when a build needs it, so a project with nothing to build works
without Docker.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.build import container, dependencies
from agentctl.build.dependencies import DependencyJob, Outcome
from agentctl.build.docker import LineSink, engine, ensure_image, find_image
from agentctl.errors import NotFound

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image


class Builder:
    def __init__(
        self,
        project_dir: Path,
        *,
        local: bool = False,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        on_line: LineSink | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.local, self.force = local, force
        self.progress = progress or (lambda _message: None)
        self.warn = warn or self.progress
        self.on_line = on_line
        self.environ = dict(os.environ if environ is None else environ)
        self._client: DockerClient | None = None

    def client(self) -> DockerClient:
        """The Docker engine, reached on first use ("Docker is not running" when it cannot be)."""
        if self._client is None:
            self.progress("Connecting to Docker ...")
            self._client = engine()
        return self._client

    def build(self, resource: str, props: Mapping[str, Any]) -> Outcome:
        image_job = container.plan(resource, props, self.project_dir, self.environ)
        if image_job is not None:
            if image_job.dockerfile is not None:
                self.progress(f"{resource}: building image {image_job.tag} from {image_job.dockerfile} ...")
            return container.build(image_job, self.client(), on_line=self.on_line)
        job = dependencies.plan(resource, props, self.project_dir, self.environ)
        if isinstance(job, str):
            return Outcome(resource, "none", "skipped", "", job)
        if self.local:
            return self._build_locally(job)
        client = self.client()
        self.progress(f"{resource}: looking for build image {job.image} ...")
        job, image = self.image_for(client, job)
        self.progress(f"{resource}: dependencies from {job.manifest.name} in {job.image} ...")
        runner = dependencies.docker_runner(client, self.environ)
        return dependencies.build(job, runner, str(image.id), force=self.force, on_line=self.on_line)

    def image_for(self, client: DockerClient, job: DependencyJob) -> tuple[DependencyJob, Image]:
        """The job's image, pulled when absent; the local base image when the default cannot be pulled."""
        try:
            return job, ensure_image(client, job.image, say=self.progress)
        except NotFound as missing:
            base = find_image(client, job.fallback) if job.fallback else None
            if base is None or job.fallback is None:
                raise missing
            self.warn(f"{job.resource}: building in the local base image {job.fallback}, because {job.image} is not "
                      "on this machine and could not be pulled (choose another with AGENTCTL_BUILD_IMAGE or "
                      "build.image in props)")
            return dataclasses.replace(job, image=job.fallback), base

    def _build_locally(self, job: DependencyJob) -> Outcome:
        tool = f"Python {sys.version.split()[0]}" if job.family == "python" else "npm"
        self.warn(f"Warning: {job.resource}: installing with this machine's {tool} instead of {job.image}; "
                  "the result may differ from what the runtime runs (compiled packages especially)")
        job = dataclasses.replace(job, image="local")
        self.progress(f"{job.resource}: dependencies from {job.manifest.name} on this machine ...")
        return dependencies.build(job, dependencies.local_runner, dependencies.local_image_id(), force=self.force,
                                  on_line=self.on_line)
