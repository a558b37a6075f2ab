"""The client of the emulator's metrics route (wire format in ``agentctl.emulator.metrics_api``).

One signed GET through the shared ``SignedSession`` (signing, error mapping, ``--debug``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from agentctl.access import Credentials
from agentctl.api.client import SignedSession
from agentctl.api.logs import FC3_VERSION


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def metrics_path(runtime_id: str) -> str:
    return f"/{FC3_VERSION}/functions/{quote('agentrun-' + runtime_id, safe='')}/metrics"


class MetricsClient:
    def __init__(self, endpoint: str, credentials: Credentials, *, debug: bool = False,
                 log: Callable[[str], None] = _stderr, transport: httpx.BaseTransport | None = None) -> None:
        self.session = SignedSession(endpoint, credentials, api_version=FC3_VERSION, debug=debug, log=log,
                                     transport=transport)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> MetricsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, runtime_id: str, *, start_ms: int | None = None, end_ms: int | None = None) -> dict[str, Any]:
        """``{runtimeId, from, to, rows, total}`` over ``[start_ms, end_ms]`` (defaults: the last hour)."""
        reply = self.session.call("GetFunctionMetrics", "GET", metrics_path(runtime_id),
                                  query={"from": start_ms, "to": end_ms})
        return dict(reply or {})
