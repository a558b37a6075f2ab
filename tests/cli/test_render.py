"""Table output people can copy: no cell is ever broken across lines, whatever the width."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from agentctl.cli.render import Column, Table, key_value_lines, table_lines, text_width

URL = "http://127.0.0.1:33985/agent-runtimes/echo-agent/endpoints/production/invocations"
ID = "4f0c6a34-2d7e-4d6f-9a55-1b0e8f3c2a71"
ENDPOINTS = Table([Column("NAME", "name"), Column("ID", "id"), Column("TRAFFIC", "traffic"), Column("URL", "url")])
ROWS = [{"name": "production", "id": ID, "traffic": "90% → 1, 10% → 2", "url": URL},
        {"name": "canary", "id": ID[::-1], "traffic": "100% → 2", "url": URL.replace("production", "canary")}]


def test_rows_that_fit_are_aligned_columns() -> None:
    lines = table_lines(ROWS, ENDPOINTS, None)
    assert lines[0].split() == ["NAME", "ID", "TRAFFIC", "URL"]
    assert lines[1].startswith("production  ") and lines[1].endswith(URL)
    assert lines[0].index("TRAFFIC") == lines[1].index("90%") and lines[0].index("URL") == lines[1].index("http")


def test_rows_too_wide_for_the_terminal_become_blocks_with_whole_values() -> None:
    lines = table_lines(ROWS, ENDPOINTS, 80)
    assert "URL      " + URL in lines and "ID       " + ID in lines
    assert lines[4] == "" and lines[5].split() == ["NAME", "canary"]
    assert all(URL not in line or line.endswith(URL) for line in lines)


def test_every_value_stays_on_one_line_in_any_width() -> None:
    for width in (20, 40, 80, 120, None):
        text = "\n".join(table_lines(ROWS, ENDPOINTS, width))
        assert URL in text and ID in text, width


def test_wide_characters_count_twice() -> None:
    assert text_width("灰度版本") == 8
    lines = table_lines([{"name": "灰度版本", "id": "x"}, {"name": "ab", "id": "y"}],
                        Table([Column("NAME", "name"), Column("ID", "id")]), None)
    assert text_width(lines[1][:lines[1].index("x")]) == text_width(lines[2][:lines[2].index("y")]) == 10


def test_key_value_view_puts_nested_yaml_under_its_key() -> None:
    assert key_value_lines({"name": "prod", "weights": [], "resources": {"cpu": 1, "port": 9000}}) == [
        "name       prod", "weights    []", "resources  cpu: 1", "           port: 9000"]


def test_endpoint_list_in_a_pipe_of_80_columns_keeps_urls_whole() -> None:
    """The renderer as the CLI runs it: COLUMNS=80 and stdout a pipe."""
    code = ("from agentctl.cli.render import *; import sys, json; rows = json.loads(sys.argv[1]); "
            "emit(rows, 'table', Table([Column('NAME','name'), Column('TRAFFIC','traffic'), Column('URL','url')]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(ROWS)], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "80"}).stdout
    assert f"URL      {URL}\n" in out and out.count("\n") == 7
