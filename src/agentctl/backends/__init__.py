"""Backends: where runtimes live. ``local`` is the emulator daemon, ``cloud`` the AgentRun service.

Both speak the same AgentRun 2025-09-10 control API through ``api.client.AgentRunClient``;
they differ in where the client points, which credentials sign, and how an endpoint's
invoke URL is found. ``factory.open_backend`` picks one (DESIGN §3).
"""

from agentctl.backends.base import Backend

__all__ = ["Backend"]
