"""HTTP plumbing: request and response primitives, bodies, routing, the specs, the doors in, the journal hook.

Nothing here knows a provider, a job or the runtime: the pipeline (mockserver/pipeline.py) and the
control plane put these parts to work.
"""
