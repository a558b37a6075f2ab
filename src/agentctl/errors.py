"""The project's error types and their exit codes.

Every error a user can cause or meet is an ``AgentctlError``: one line of what
went wrong (``message``) and one line of what to do (``hint``). The CLI's error
boundary (``agentctl.cli.main``) prints both to stderr and exits with
``exit_code``; nothing else reaches the user as a traceback (``--debug`` shows it).

    AgentctlError                  exit 1  (unexpected failure inside agentctl)
    ├── BadInput                   exit 2  (s.yaml, flags, arguments, files)
    │   └── SpecError              exit 2  (s.yaml with file:line:col)
    ├── NotFound                   exit 3  (runtime, version, endpoint, alias, template)
    ├── AuthError                  exit 4  (missing/invalid credentials, signature rejected)
    ├── BackendError               exit 5  (the emulator/cloud/Docker failed or refused)
    │   └── ApiError               exit 5  (a control API error reply: code, message, requestId)
    └── TimedOut                   exit 6  (waiting for READY, health, a daemon)
    Interrupted (Ctrl-C)           exit 130

Foreign exceptions are mapped to these at the boundary where they occur, with
the cause chained (``raise NotFound(...) from exc``).
"""

from __future__ import annotations

import errno


class AgentctlError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class BadInput(AgentctlError):
    exit_code = 2


class SpecError(BadInput):
    """An s.yaml problem, located at ``file:line:col`` when the position is known."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file, self.line, self.column = file, line, column
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}" + (f":{column}" if column is not None else "")
            where += ": "
        super().__init__(where + message, hint)
        self.detail = message


class NotFound(AgentctlError):
    exit_code = 3


class AuthError(AgentctlError):
    exit_code = 4


class BackendError(AgentctlError):
    exit_code = 5


class ApiError(BackendError):
    """An error reply from the AgentRun control API (emulator or cloud)."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None,
                 hint: str | None = None) -> None:
        self.status, self.code, self.request_id = status, code, request_id
        super().__init__(f"{code}: {message}" + (f" (requestId {request_id})" if request_id else ""), hint)
        if status in (401, 403):
            self.exit_code = AuthError.exit_code
        elif status == 404:
            self.exit_code = NotFound.exit_code
        elif 400 <= status < 500:
            self.exit_code = BadInput.exit_code


class TimedOut(AgentctlError):
    exit_code = 6


NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def storage_error(exc: OSError, what: str, where: object) -> BackendError:
    """A write that failed, said as what it is: a full disk (or quota) gets the advice to free space."""
    if exc.errno in NO_ROOM:
        hint = (f"Free some space on the disk that holds {where} (or point AGENTCTL_HOME at one with room), "
                "then run the command again; nothing was changed.")
    else:
        hint = f"Check that {where} exists and is writable by you."
    return BackendError(f"cannot write {what} in {where}: {exc.strerror or exc}", hint=hint)


EXIT_CODES = {
    0: "success",
    1: "unexpected failure inside agentctl (run with --debug and report it)",
    2: "bad input: s.yaml, flags, arguments or files",
    3: "not found: runtime, version, endpoint, alias or template",
    4: "authentication: missing or rejected credentials",
    5: "backend: the emulator, the cloud API or Docker failed",
    6: "timeout while waiting for a resource or a daemon",
    130: "interrupted (Ctrl-C)",
}
