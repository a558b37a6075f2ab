"""The exec protocol's pure parts: the exit-code wrapping used against the cloud, frames, resize."""

from __future__ import annotations

import subprocess

import pytest

from agentctl.api import exec_client as proto
from agentctl.api.exec_client import ExitMarker, command_argv
from agentctl.errors import AuthError, BackendError, NotFound


def strip(chunks: list[bytes]) -> tuple[bytes, int | None]:
    marker = ExitMarker()
    shown = b"".join(marker.feed(chunk) for chunk in chunks)
    rest, code = marker.finish()
    return shown + rest, code


def test_the_wrapped_command_reports_its_exit_code_even_when_it_calls_exit(tmp_path: str) -> None:
    argv = command_argv("pwd; printf partial; exit 3", shell="sh", workdir=str(tmp_path), mark_exit=True)
    raw = subprocess.run(argv, capture_output=True, check=True).stdout  # the wrapper itself always succeeds
    assert strip([raw]) == (f"{tmp_path}\npartial".encode(), 3)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_the_marker_is_stripped_however_the_output_is_split(size: int) -> None:
    raw = b"line one\nline two\n" + b"\n__agentctl_exit=42\n"
    chunks = [raw[i:i + size] for i in range(0, len(raw), size)]
    assert strip(chunks) == (b"line one\nline two\n", 42)


def test_output_that_only_looks_like_the_marker_passes_through() -> None:
    raw = b"a\n__agentctl_exit=not a number\n\n__agentctl_exit=9\nmore\n"
    assert strip([raw]) == (raw, None)


def test_only_a_possible_marker_start_is_held_back() -> None:
    marker = ExitMarker()
    assert marker.feed(b"progress 10%\n") == b"progress 10%"  # "\n" might start the marker
    assert marker.feed(b"progress 20%") == b"\nprogress 20%"


def test_without_a_marker_the_output_is_unchanged_and_the_code_unknown() -> None:
    assert strip([b"plain\n"]) == (b"plain\n", None)


def test_commands_run_in_the_shell_and_workdir_asked_for() -> None:
    assert command_argv("ls", shell="bash") == ["bash", "-c", "ls"]
    assert command_argv("ls", shell="sh", workdir="/tmp/a b") == ["sh", "-c", "cd -- '/tmp/a b' || exit\nls"]
    assert command_argv(None, shell="bash") == ["bash"]
    assert command_argv(None, shell="bash", workdir="/srv") == ["bash", "-c", "cd -- /srv && exec bash"]
    assert command_argv(None, shell="bash", cloud=True)[2].startswith("cd /code")


def test_a_missing_workdir_fails_the_command() -> None:
    argv = command_argv("echo never", shell="sh", workdir="/no/such/dir", mark_exit=True)
    raw = subprocess.run(argv, capture_output=True).stdout
    shown, code = strip([raw])
    assert b"never" not in shown and code not in (None, 0)


def test_resize_accepts_either_case_and_rejects_nonsense() -> None:
    assert proto.parse_resize(proto.resize_payload(120, 40)) == (120, 40)
    assert proto.parse_resize(b'{"width": 80, "height": 24}') == (80, 24)
    for bad in (b"{}", b"[1, 2]", b'{"Width": 0, "Height": 10}', b"nope"):
        with pytest.raises((ValueError, KeyError, AttributeError)):
            proto.parse_resize(bad)


def test_close_and_error_frames_decode_to_codes_and_project_errors() -> None:
    assert proto.exit_code_of(proto.close_payload(3)) == 3
    assert proto.exit_code_of(b"") is None  # FC's close frame
    assert isinstance(proto.error_of(proto.error_payload(404, "InstanceNotFound", "gone")), NotFound)
    assert isinstance(proto.error_of(proto.error_payload(403, "Denied", "no")), AuthError)
    plain = proto.error_of(b"container exec failed")
    assert isinstance(plain, BackendError) and plain.message == "container exec failed"
