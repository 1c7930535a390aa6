"""The domain of Kindred: communities, members, roles, and the rules that govern rooms.

Pure Python, no I/O: nothing here imports a web framework, a database driver or redis.
Time, when it matters, is passed in as ``now`` (seconds, float) so rules test without a clock.
"""
