"""Carrying out a deploy plan: one API call per step, then waiting until what it changed is READY.

Steps are dispatched with ``match`` on their type. Runtime changes are
followed by polling ``GetAgentRuntime`` until READY, endpoint changes by polling
``GetAgentRuntimeEndpoint`` (a change that moves traffic to new code is
health-checked first, see ``emulator.rollout``). A failed state raises with the
backend's ``statusReason`` (for a failed health check: the instance's last output
lines); progress goes to a ``Reporter`` so that the CLI can show a rich spinner
while tests record the calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from agentctl.backends.base import Backend
from agentctl.deploy.plan import (
    FAILED_STATES,
    CreateEndpoint,
    CreateRuntime,
    Plan,
    Step,
    UpdateEndpoint,
    UpdateRuntime,
)
from agentctl.errors import BackendError, TimedOut

READY = "READY"
WAIT_TIMEOUT = 600.0


class Reporter(Protocol):
    def step(self, message: str) -> None: ...

    def waiting(self, what: str, status: str, elapsed: float) -> None: ...


class SilentReporter:
    def step(self, message: str) -> None:
        pass

    def waiting(self, what: str, status: str, elapsed: float) -> None:
        pass


def execute(plan: Plan, backend: Backend, runtime_id: str | None, reporter: Reporter,
            *, timeout: float = WAIT_TIMEOUT) -> str | None:
    """Run the steps in order; returns the runtime id (new when the plan created it)."""
    for step in plan.steps:
        reporter.step(step.message)
        runtime_id = _run(step, backend, runtime_id, reporter, timeout)
    return runtime_id


def _run(step: Step, backend: Backend, runtime_id: str | None, reporter: Reporter, timeout: float) -> str | None:
    client = backend.client
    match step:
        case CreateRuntime(name=name, body=body):
            created = client.create_agent_runtime(dict(body))
            runtime_id = str(created["agentRuntimeId"])
            wait_ready(backend, runtime_id, name, reporter, timeout=timeout)
        case UpdateRuntime(runtime_id=target, name=name, body=body):
            client.update_agent_runtime(target, dict(body))
            wait_ready(backend, target, name, reporter, timeout=timeout)
        case CreateEndpoint(endpoint=endpoint):
            created = client.create_agent_runtime_endpoint(_need(runtime_id), endpoint.to_api())
            wait_endpoint(backend, _need(runtime_id), str(created["agentRuntimeEndpointId"]), endpoint.name,
                          reporter, timeout=timeout)
        case UpdateEndpoint(endpoint_id=endpoint_id, endpoint=endpoint):
            client.update_agent_runtime_endpoint(_need(runtime_id), endpoint_id, endpoint.to_api())
            wait_endpoint(backend, _need(runtime_id), endpoint_id, endpoint.name, reporter, timeout=timeout)
    return runtime_id


def _need(runtime_id: str | None) -> str:
    if runtime_id is None:  # a plan always creates the runtime before its endpoints
        raise BackendError("an endpoint step came before its runtime existed",
                           hint="This is a bug in agentctl: run again with --debug and report it.")
    return runtime_id


def wait_ready(backend: Backend, runtime_id: str, name: str, reporter: Reporter, *,
               timeout: float = WAIT_TIMEOUT, interval: float = 0.2,
               clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll the runtime until READY; a failed state or the timeout raises."""
    return _wait(lambda: backend.client.get_agent_runtime(runtime_id), "runtime", name, reporter,
                 timeout=timeout, interval=interval, clock=clock)


def wait_endpoint(backend: Backend, runtime_id: str, endpoint_id: str, name: str, reporter: Reporter, *,
                  timeout: float = WAIT_TIMEOUT, interval: float = 0.2,
                  clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll the endpoint until READY (its new versions passed their health check); failed or timeout raises."""
    return _wait(lambda: backend.client.get_agent_runtime_endpoint(runtime_id, endpoint_id), "endpoint", name,
                 reporter, timeout=timeout, interval=interval, clock=clock)


def _wait(fetch: Callable[[], dict[str, Any]], kind: str, name: str, reporter: Reporter, *, timeout: float,
          interval: float, clock: Callable[[], float]) -> dict[str, Any]:
    what = f"{kind} {name}"
    start = clock()
    while True:
        found = fetch()
        status = str(found.get("status") or READY)  # a backend that reports no status has nothing to wait for
        if status == READY:
            return found
        if status in FAILED_STATES:
            raise BackendError(f"{what} is {status}: {found.get('statusReason') or 'no reason given'}",
                               hint="Nothing was switched: traffic stays where it was. Fix the cause in the code "
                                    "or s.yaml and try again; `agentctl logs` shows all the instance printed.")
        elapsed = clock() - start
        if elapsed > timeout:
            raise TimedOut(f"{what} is still {status or 'not ready'} after {timeout:.0f}s",
                           hint="Check it later with `agentctl info`; the change itself was sent.")
        reporter.waiting(name if kind == "runtime" else what, status, elapsed)
        time.sleep(min(interval * 2 ** min(int(elapsed), 4), 2.0))


class RichReporter:
    """Step lines and a spinner with the current status, on stderr (stdout stays for -o json)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._status: Any = None

    def step(self, message: str) -> None:
        self._stop()
        self._say(f"• {message}")

    def waiting(self, what: str, status: str, elapsed: float) -> None:
        text = f"waiting for {what} to be READY: {status or 'pending'} ({elapsed:.0f}s)"
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    @contextmanager
    def active(self) -> Iterator[RichReporter]:
        try:
            yield self
        finally:
            self._stop()

