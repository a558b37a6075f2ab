"""The local AgentRun: one daemon process with the control API, store, gateway, instance pool and drivers.

- ``daemon``: start/find/stop/reset the daemon from the CLI (``ensure_running``, ``status``, ``stop``, ``reset``).
- ``app``: the daemon itself (``python -m agentctl.emulator``), wiring the parts below into one asyncio loop.
- ``control`` (HTTP, signature check) → ``service`` (the AgentRun logic) → ``store`` (SQLite) + ``codestore``.
- ``gateway`` → ``pool`` → ``drivers``: the data plane that runs and proxies to instances.

Importing this package imports nothing heavy; the CLI imports ``daemon`` lazily.
"""
