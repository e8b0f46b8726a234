"""The services a running mock holds: the Mock (clock, ids, store, accounts, media, limits, faults,
journal, webhooks, fetching), a job's whole life (jobs.py), crash recovery, the outgoing transport
and the sample inputs. Nothing here knows a provider's words or serves HTTP.
"""

from mockserver.runtime.mock import Mock, is_redis

__all__ = ["Mock", "is_redis"]
