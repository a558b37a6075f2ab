"""`agentctl instance exec|list` as a user runs them, against the control app with the exec route.

The instance behind the stand-in daemon is a real environment (a code directory and variables);
the interactive tests drive the real CLI through a pseudo-terminal, as a person at a terminal would.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentctl.emulator.exec import ExecEnv
from exec_support import RUNTIME_ID, StandIn, standin_daemon

EXEC = ("instance", "exec", "--runtime-id", RUNTIME_ID)


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "code"
    (directory / "sub").mkdir(parents=True)
    return directory


def environment(code_dir: Path) -> ExecEnv:
    return ExecEnv(str(code_dir), {"PATH": os.environ["PATH"], "HOME": str(code_dir), "PS1": "$ "})


@pytest.fixture
def standin(code_dir: Path) -> Iterator[StandIn]:
    with standin_daemon({"c-one": environment(code_dir)}) as running:
        yield running


def test_cmd_prints_the_working_dir_and_exits_with_the_command_code(cli, standin: StandIn, code_dir: Path) -> None:
    result = cli(*EXEC, "--instance-id", "c-one", "--cmd", "pwd; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == f"{code_dir}\n"


def test_cmd_output_goes_to_stdout_and_errors_to_stderr(cli, standin: StandIn) -> None:
    result = cli(*EXEC, "--instance-id", "c-one", "--cmd", "echo to-out; echo to-err >&2")
    assert (result.returncode, result.stdout) == (0, "to-out\n")
    assert "to-err" in result.stderr and "to-out" not in result.stderr


def test_workdir_and_shell_are_honoured(cli, standin: StandIn, code_dir: Path) -> None:
    result = cli(*EXEC, "--instance-id", "c-one", "--workdir", "sub", "--shell", "bash",
                 "--cmd", 'pwd; echo "$BASH_VERSION" | cut -c1')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(code_dir / "sub") and lines[1].isdigit()


def test_an_unknown_instance_is_a_clear_not_found_error(cli, standin: StandIn) -> None:
    result = cli(*EXEC, "--instance-id", "c-nope", "--cmd", "true")
    assert result.returncode == 3
    assert "Error: instance c-nope" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_only_instance_is_picked_without_instance_id(cli, standin: StandIn) -> None:
    result = cli(*EXEC, "--cmd", "echo picked")
    assert (result.returncode, result.stdout) == (0, "picked\n"), result.stderr


def test_several_instances_without_instance_id_and_no_terminal_are_named(cli, standin: StandIn,
                                                                         code_dir: Path) -> None:
    from exec_support import FUNCTION

    standin.instances[(FUNCTION, "c-two")] = environment(code_dir)
    result = cli(*EXEC, "--cmd", "true")
    assert result.returncode == 2
    assert "c-one" in result.stderr and "c-two" in result.stderr and "--instance-id" in result.stderr


def test_a_shell_without_a_terminal_is_refused_with_a_hint(cli, standin: StandIn) -> None:
    result = cli(*EXEC, "--instance-id", "c-one", input="")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "--cmd" in result.stderr


def test_list_shows_the_running_instances(cli, standin: StandIn) -> None:
    table = cli("instance", "list", "--runtime-id", RUNTIME_ID)
    assert table.returncode == 0, table.stderr
    assert "c-one" in table.stdout and "IDLE FOR" in table.stdout
    rows = json.loads(cli("-o", "json", "instance", "list", "--runtime-id", RUNTIME_ID).stdout)
    assert rows == [{"instanceId": "c-one", "version": "LATEST", "status": "Running", "started": rows[0]["started"],
                     "inFlight": 0, "idleFor": "5s"}]


# --- an interactive shell through a pseudo-terminal ------------------------------------------------

class Terminal:
    """The CLI running under a pty we hold the other end of (a tiny pexpect on the stdlib)."""

    def __init__(self, args: list[str], env: dict[str, str], size: tuple[int, int] = (111, 33)) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the CLI, with the pty as its terminal
            os.execvpe(sys.executable, [sys.executable, "-m", "agentctl", *args], env)
        self.resize(*size)
        self.seen = b""

    def resize(self, columns: int, rows: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} never showed up; the terminal shows {self.seen[-400:]!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the CLI has gone
                    chunk = b""
                assert chunk, f"{needle!r} never showed up before the end: {self.seen[-400:]!r}"
                self.seen += chunk
        self.seen = self.seen[self.seen.index(needle.encode()) + len(needle):]

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_output = select.select([self.fd], [], [], 0.1)[0]
            if with_output:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.fd, 4096)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the CLI did not exit; the terminal shows {self.seen[-400:]!r}")


@pytest.fixture
def terminal(standin: StandIn, agentctl_home: Path) -> Iterator[Terminal]:
    env = {**os.environ, "AGENTCTL_HOME": str(agentctl_home), "NO_COLOR": "1", "TERM": "xterm"}
    term = Terminal([*EXEC, "--instance-id", "c-one", "--shell", "sh"], env)
    term.expect("$ ")  # the remote prompt (PS1 of the instance environment)
    yield term
    try:
        os.kill(term.pid, 9)
        os.waitpid(term.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_an_interactive_shell_runs_two_commands_and_exit_returns(terminal: Terminal, code_dir: Path) -> None:
    terminal.type("echo one-$((1+1))\r")
    terminal.expect("one-2")
    terminal.type("pwd\r")
    terminal.expect(str(code_dir))
    terminal.type("exit\r")
    assert terminal.wait() == 0


def test_the_shell_gets_the_terminal_size_and_follows_resizes(terminal: Terminal) -> None:
    terminal.type("stty size\r")
    terminal.expect("33 111")
    terminal.resize(90, 20)  # SIGWINCH in the CLI → a resize frame
    for _ in range(50):
        terminal.type("stty size\r")
        try:
            terminal.expect("20 90", timeout=0.5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the remote terminal never got the new size")
    terminal.type("exit 4\r")
    assert terminal.wait() == 4


def test_ctrl_c_reaches_the_remote_command_and_the_session_goes_on(terminal: Terminal) -> None:
    terminal.type("sleep 30; echo not-$((6*7))\r")
    terminal.expect("sleep 30")
    for _ in range(40):  # the shell may not have started sleep yet: press again until the prompt is back
        terminal.type("\x03")
        try:
            terminal.expect("$ ", timeout=0.5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("Ctrl-C never brought the prompt back")
    terminal.type("echo after-$((2+3))\r")
    terminal.expect("after-5")
    assert b"not-42" not in terminal.seen
    terminal.type("exit\r")
    assert terminal.wait() == 0
