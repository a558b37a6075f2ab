"""Instance runtimes behind one interface (:class:`~agentctl.emulator.drivers.base.Driver`).

``process`` runs the version's command as a local process; ``docker`` (later)
runs its image. :func:`driver_named` is the one place that maps a name to one.
"""

from __future__ import annotations

from agentctl.emulator.drivers.base import Driver, Handle, InstanceSpec, InstanceStartFailed, LogLine, LogSink
from agentctl.errors import BadInput

__all__ = ["Driver", "Handle", "InstanceSpec", "InstanceStartFailed", "LogLine", "LogSink", "driver_named"]


def driver_named(name: str) -> Driver:
    if name == "process":
        from agentctl.emulator.drivers.process import ProcessDriver

        return ProcessDriver()
    raise BadInput(f"unknown instance driver {name!r}", "use 'process'")
