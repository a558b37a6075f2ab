"""Deploy: load spec → prepare (validate, package; no backend calls) → plan (read-only) → execute.

- ``deploy.endpoints``: the weighted-endpoint rules of DESIGN §4, pure.
- ``deploy.plan``: frozen steps (``CreateRuntime``, ``UpdateRuntime``, ``CreateEndpoint``,
  ``UpdateEndpoint``); an empty plan means nothing changed.
- ``deploy.execute``: runs the steps with ``match``, waits for READY with progress.
- ``deploy.pipeline``: the stages for one s.yaml resource.
- ``deploy.lifecycle``: info, version publish, endpoint publish/remove, remove.
"""
