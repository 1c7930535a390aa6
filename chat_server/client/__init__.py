"""A small typed client for Kindred, for bots, tests and benchmarks.

``RoomSocket`` (sockets.py) speaks the WebSocket protocol of docs/protocol.md: join, send with
retries under one cid (stored at most once, however often it is resent), resume from the last
seq seen, moderate, duty. ``Api`` (api.py, needs ``httpx``: ``pip install kindred[client]``)
covers the HTTP calls a bot needs: sign in, history pages, moderation.
"""

from chat_server.client.sockets import Ack, Joined, Refused, RoomSocket

__all__ = ["Ack", "Joined", "Refused", "RoomSocket"]
