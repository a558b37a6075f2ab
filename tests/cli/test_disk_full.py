"""A full disk is reported as a full disk, and leaves no half-written file behind (issue #9, item 9).

Real ENOSPC/EFBIG from the kernel: ``/dev/full`` stands where the settings are written, and a child
process runs under ``RLIMIT_FSIZE`` so that staging a code zip fails half way.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def test_local_start_on_a_full_disk_says_so_and_does_not_advise_a_reset(cli: Any, agentctl_home: Path) -> None:
    state = agentctl_home / "emulator"
    state.mkdir(parents=True)
    (state / "settings.json.tmp").symlink_to("/dev/full")  # every write there: ENOSPC

    result = cli("local", "start", "--max-instances", "3")

    assert result.returncode == 5, (result.returncode, result.stderr)
    assert "No space left on device" in result.stderr and str(state) in result.stderr
    assert "Hint:" in result.stderr and "reset" not in result.stderr and "unexpected" not in result.stderr


def test_a_staging_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from agentctl.emulator.codestore import CodeStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))
        codes = CodeStore(Path({str(tmp_path / 'code')!r}))
        try:
            codes.stage(b"x" * (20 * 1024 * 1024))
        except OSError as exc:
            print("failed:", exc.errno)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "failed:" in done.stdout, (done.stdout, done.stderr)
    assert list((tmp_path / "code" / "staging").iterdir()) == []
