"""A small typed client for Kindred, for bots, tests and benchmarks.

``RoomSocket`` (sockets.py) speaks the WebSocket protocol of docs/protocol.md: join, send with
retries under one cid (stored at most once, however often it is resent), resume from the last
seq seen, moderate, duty. ``connect``, ``decode`` and ``encode`` (transport.py) are the
handshake and the two encodings, for a caller that reads raw frames itself (the tests' client
keeps a log of every frame on top of ``RoomSocket``'s observer). ``Api`` (api.py, needs
``httpx``: ``pip install kindred[client]``) covers the HTTP calls a bot needs: sign in, history
pages, moderation.
"""

from chat_server.client.sockets import Ack, Joined, Refused, RoomSocket
from chat_server.client.transport import JSON, MSGPACK, Frame, connect, decode, encode

__all__ = ["JSON", "MSGPACK", "Ack", "Frame", "Joined", "Refused", "RoomSocket", "connect", "decode",
           "encode"]
