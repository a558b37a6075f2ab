"""AgentRun 2025-09-10 API layer: the ACS3 signer, the resource models and route table, the HTTP client.

``signing`` is stdlib-only (the emulator imports it); ``client`` imports httpx and is imported lazily
by whoever needs it.
"""
