"""agentctl: take an AI agent from a folder of code to a running, versioned, canary-released service."""

__version__ = "0.1.0"
