"""The trace of a run in the instance's log: one line when a node starts, one when it ends.

Lines are logfmt on stdout (what AgentRun and the emulator collect from an instance), each with the
request id the gateway sent (``x-agentrun-request-id``), so ``logs -r <id>`` (or ``--search <id>``
when requests overlap on one instance) shows one run's trace::

    flow node=pipeline/fanout/upper event=start type=runtime index=4 request_id=6f1c…
    flow node=pipeline/fanout/upper event=end type=runtime outcome=ok duration_ms=3.1 attempts=1 request_id=6f1c…
    flow node=pipeline/answer event=note message="pick attempt=1 picked=billing" request_id=6f1c…
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from agentctl.flow.context import NodeEvent


def logfmt(**fields: object) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        if not text or any(ch in text for ch in ' "=\n'):
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


class LogTrace:
    """An ``Observer`` that prints node start/end lines (and notes: retries, route picks)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def line(self, text: str) -> None:
        out = self.out or sys.stdout
        out.write(f"flow {text}\n")
        out.flush()

    def node_started(self, event: NodeEvent) -> None:
        self.line(logfmt(node=event.path, event="start", type=event.type, index=event.index,
                         request_id=event.request_id))

    def node_finished(self, event: NodeEvent) -> None:
        picked = ",".join(event.detail.get("picked", [])) or None
        self.line(logfmt(node=event.path, event="end", type=event.type, outcome=event.outcome,
                         duration_ms=event.duration_ms, attempts=event.attempts, picked=picked,
                         fallback=event.detail.get("fallback"), error=event.error, request_id=event.request_id))

    def note(self, event: NodeEvent, message: str) -> None:
        self.line(logfmt(node=event.path, event="note", message=message, request_id=event.request_id))

    def request(self, request_id: str, **fields: object) -> None:
        self.line(logfmt(request_id=request_id, **fields))
