"""Run the ``actions`` of s.yaml as ``s`` runs them.

An action key is ``<hook>-<command>`` (hook: pre, success, fail, complete) and
holds a list of steps; a step ``run: <shell command>`` runs in ``path``
(default: the s.yaml folder) through the shell, with the environment of the
project (.env included). Global actions (top level) wrap the whole command,
resource actions wrap that resource. A failing step stops the command with its
output (``ActionFailed``) unless it says ``allow_failure: true`` (or lists the
``exit_code``/``command`` values it may fail with). Callers decide when each hook runs:

    run_hook(project, "pre", "deploy")                  # global
    run_hook(project, "pre", "deploy", resource=res)    # per resource
"""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.errors import BadInput
from agentctl.spec.project import Project, Resource

HOOKS = ("pre", "success", "fail", "complete")
_TAIL_LINES = 20


class ActionFailed(BadInput):
    """A ``run`` step exited non-zero (``returncode``); ``output`` holds the end of what it printed.

    agentctl itself exits 2 (``BadInput``): the step's own code is in the message, not agentctl's.
    """

    def __init__(self, step: ActionStep, exit_code: int, output: str) -> None:
        self.step, self.returncode, self.output = step, exit_code, output
        where = "global" if step.level == "global" else f"resource {step.level}"
        tail = f":\n{output.rstrip()}" if output.strip() else ""
        super().__init__(f"{step.hook}-{step.command} action ({where}) failed with exit code {exit_code}: "
                         f"{step.run}{tail}",
                         f"fix the command under actions.{step.hook}-{step.command}, or add allow_failure: true")


@dataclass(frozen=True)
class ActionStep:
    hook: str
    command: str
    run: str
    cwd: Path
    level: str  # "global" or the resource name
    allow_failure: Any = False

    def may_fail(self, exit_code: int) -> bool:
        allowed = self.allow_failure
        if isinstance(allowed, Mapping):
            codes, commands = allowed.get("exit_code"), allowed.get("command")
            return (not codes or exit_code in codes) and (not commands or self.command in commands)
        return bool(allowed)


def action_steps(actions: Mapping[str, Any], hook: str, command: str, base_dir: Path,
                 level: str = "global") -> list[ActionStep]:
    """The ``run`` steps of ``actions`` for ``<hook>-<command>``, in file order."""
    if hook not in HOOKS:
        raise ValueError(f"unknown hook {hook!r}")
    steps: list[ActionStep] = []
    for key, items in (actions or {}).items():
        if key != f"{hook}-{command}":
            continue
        if not isinstance(items, list):
            raise BadInput(f"actions.{key} ({level}) must be a list of steps", "write - run: <command>")
        steps.extend(_step(item, hook, command, base_dir, level, key) for item in items)
    return steps


def _step(item: Any, hook: str, command: str, base_dir: Path, level: str, key: str) -> ActionStep:
    if not isinstance(item, Mapping) or "run" not in item:
        kind = next(iter(item), "?") if isinstance(item, Mapping) else type(item).__name__
        raise BadInput(f"actions.{key} ({level}): only `run` steps are supported, not `{kind}`",
                       "write the step as - run: <shell command>")
    cwd = Path(str(item.get("path") or "./")).expanduser()
    return ActionStep(hook, command, str(item["run"]), cwd if cwd.is_absolute() else base_dir / cwd, level,
                      item.get("allow_failure", False))


def run_steps(steps: list[ActionStep], *, env: Mapping[str, str] | None = None,
              say: Callable[[str], None] | None = None) -> None:
    """Run ``steps`` in order; the first failing one (not allowed to fail) raises ActionFailed."""
    echo = say or (lambda line: print(line, file=sys.stderr))
    for step in steps:
        if not step.cwd.is_dir():
            raise BadInput(f"{step.hook}-{step.command} action ({step.level}): path {step.cwd} is not a folder",
                           "fix `path` of the action step")
        exit_code, output = _run(step, env, echo)
        if exit_code != 0 and not step.may_fail(exit_code):
            raise ActionFailed(step, exit_code, output)


def _run(step: ActionStep, env: Mapping[str, str] | None, echo: Callable[[str], None]) -> tuple[int, str]:
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    with subprocess.Popen(step.run, shell=True, cwd=step.cwd, env=dict(env) if env is not None else None,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            echo(line)
        exit_code = process.wait()
    return exit_code, "\n".join(tail)


def run_hook(project: Project, hook: str, command: str, *, resource: Resource | None = None,
             say: Callable[[str], None] | None = None) -> None:
    """Run the global (or ``resource``'s) ``<hook>-<command>`` steps of ``project``."""
    actions = resource.actions if resource else project.actions
    level = resource.name if resource else "global"
    run_steps(action_steps(actions, hook, command, project.dir, level), env=project.env or None, say=say)
