"""``python -m agentctl.emulator``: run the emulator daemon in the foreground (``agentctl local start`` detaches it)."""

from __future__ import annotations

import sys

from agentctl.emulator.app import main

if __name__ == "__main__":
    sys.exit(main())
