"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_testserver import ApiServer, serve


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official SDK (requests) honours HTTP(S)_PROXY even for 127.0.0.1; keep its calls local."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    with serve() as server:
        yield server
