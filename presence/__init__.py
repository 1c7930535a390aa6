"""Who is in each room now, across every gateway process.

``state`` is the pure bookkeeping (time passed in); ``memory`` and ``redis_store`` keep it
in-process or in Redis behind the same ``PresenceStore`` protocol (``store``).
"""
