"""Fixtures of the flow tests (processes they start live in flow_support)."""

from flow_support import agents, model, runner

__all__ = ["agents", "model", "runner"]
