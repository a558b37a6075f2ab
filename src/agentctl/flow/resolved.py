"""The runner's input: a flow with its runtime nodes bound to URLs, written as one JSON file.

Deploy (phase 2) does, for a flow resource:

    refs = runtime_refs(parse_flow(props["flow"]))                # check each ref.resource exists; order them first
    bound = bind_runtime_urls(props["flow"], url_of)              # url_of(resource, endpoint) -> invocation base URL
    write flow.json = resolved_document(bound) beside runner_files(), command RUNNER_COMMAND

The runner reads ``$AGENTCTL_FLOW_FILE``, else ``flow.json`` in its working directory (the code
directory), and refuses to start when a runtime node has no URL.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentctl.flow.fields import FlowIssue, FlowSpecError
from agentctl.flow.model import Flow, YamlPath
from agentctl.flow.parse import parse_flow

FORMAT = "agentctl-flow/1"
FLOW_FILE = "flow.json"
RUNNER_COMMAND = ["python3", "-m", "agentctl.flow.runner"]
CHILD_KEYS = ("agent", "fallback")  # single-node fields, after "agents" (tree order, as model.children)


def _runtime_nodes(node: Any, where: YamlPath) -> Iterator[tuple[dict[str, Any], YamlPath]]:
    if not isinstance(node, dict):
        return
    if node.get("type") == "runtime":
        yield node, where
    agents = node.get("agents")
    if isinstance(agents, list):
        for i, child in enumerate(agents):
            yield from _runtime_nodes(child, (*where, "agents", i))
    for key in CHILD_KEYS:
        yield from _runtime_nodes(node.get(key), (*where, key))


def bind_runtime_urls(flow: dict[str, Any], url_of: Callable[[str, str], str | None], *,
                      where: YamlPath = ("flow",)) -> dict[str, Any]:
    """A copy of ``flow`` (the props dict) whose runtime nodes carry ``url`` (``url_of``'s, else the one given).

    FlowSpecError names every runtime node left without a URL."""
    bound = copy.deepcopy(flow)
    issues = []
    for node, path in _runtime_nodes(bound.get("root"), (*where, "root")):
        resource, endpoint = str(node.get("resource")), str(node.get("endpoint") or "default")
        url = url_of(resource, endpoint) or node.get("url")
        if not url:
            issues.append(FlowIssue(path, f"no URL for runtime {resource!r} endpoint {endpoint!r}",
                                    f"Deploy {resource!r} first, or bind it (runner --runtime {resource}=URL)."))
        else:
            node["url"] = url
    if issues:
        raise FlowSpecError(issues)
    return bound


def resolved_document(flow: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "flow": flow}


def load_flow_file(path: Path, *, bind: Callable[[str, str], str | None] | None = None) -> Flow:
    """The flow of a runner file (``resolved_document`` or a bare flow map), URLs required."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowSpecError([FlowIssue((), f"cannot read the flow file {path}: {exc.strerror}",
                                       "Write it with resolved_document(), or set AGENTCTL_FLOW_FILE.")]) from exc
    except ValueError as exc:
        raise FlowSpecError([FlowIssue((), f"{path} is not JSON: {exc}")]) from exc
    flow = document.get("flow", document) if isinstance(document, dict) else document
    if isinstance(document, dict) and "format" in document and document["format"] != FORMAT:
        raise FlowSpecError([FlowIssue(("format",), f"{path} has format {document['format']!r}, expected {FORMAT}",
                                       "Redeploy the flow with this version of agentctl.")])
    if bind is not None and isinstance(flow, dict):
        flow = bind_runtime_urls(flow, bind)
    return parse_flow(flow, require_urls=True)


def runner_files() -> list[tuple[str, Path]]:
    """(name in the code package, file) for everything the runner imports: agentctl's flow package, stdlib only."""
    package = Path(__file__).resolve().parent
    root = package.parent
    files = [("agentctl/__init__.py", root / "__init__.py"), ("agentctl/errors.py", root / "errors.py")]
    skip = {"dify.py"}  # import-time tooling, not needed by the runner
    files += [(f"agentctl/flow/{file.name}", file) for file in sorted(package.glob("*.py")) if file.name not in skip]
    return files
