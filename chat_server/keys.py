"""Every Redis key and channel name the server uses, in one place.

Presence keeps its own (``kindred:p:*``, ``kindred:conns:*``) in ``presence/redis_store.py``:
that package must not import this one. Keys live in the database number of
``KINDRED_REDIS_URL``; pub/sub channels do not (they are global to a redis-server), so their
names are built by ``Channels``, which puts the database number in them.
"""

from __future__ import annotations

from typing import Any

# Every posted message is also appended here, for the transcript writers' consumer group.
# Entries leave it only once committed to the database, so it is never trimmed: the room
# streams are the bounded replay window, this one is the durable queue.
COMMITS_STREAM = "kindred:commits"
WRITERS_GROUP = "writers"  # the transcript writers' consumer group on COMMITS_STREAM
DEAD_STREAM = "kindred:commits:dead"  # entries the database refused for good
DUTY = "kindred:duty"  # hash: ``gateway|member`` -> who is on duty, with an expiry
KEY_FAILURES = "kindred:fail:key"  # prefix: wrong organization key phrases per client
LOGIN_FAILURES = "kindred:fail:login"  # prefix: failed sign-ins per client
REGISTRATIONS = "kindred:register"  # prefix: registrations per client and per key phrase
FRIEND_REQUESTS = "kindred:befriend"  # prefix: new friend requests per member (public id)
DM_REQUESTS = "kindred:dmask"  # prefix: new private-message requests per member (public id)
TALKS = "kindred:talks"  # sorted set: private-talk requests waiting, by when they were made
TALKS_ASKED = "kindred:talk:asked"  # prefix: private-talk requests per member and window
QUESTIONS_ASKED = "kindred:asked"  # prefix: questions to experts per member and window


# Names kept per Channels; past this many (members ever connected to one gateway, say) the
# cache starts over rather than growing without limit.
_NAMES_MAX = 65536


class Channels:
    """The pub/sub channel names of the deployment whose keys are in database ``db``.

    Pub/sub ignores database numbers: two deployments on one redis-server (databases 0 and
    1, say a staging copy beside production) would otherwise hear each other's rooms: the
    other's messages delivered to our members, its seqs taken for ours (our own messages then
    dropped as already seen, and the anti-entropy check reporting our counter as gone back).
    Database 0 keeps the plain ``kindred:`` names, so upgrading changes nothing there.

    Every name is built once: the fixed ones here, a room's or a member's on first use (then
    kept, up to ``_NAMES_MAX`` of each). Read-only after construction.

    - ``control``: control messages to every gateway (sign-outs, moderation events...).
    - ``room_prefix``, ``user_prefix``: what ``room`` and ``user`` put before the name.
    """

    __slots__ = ("_rooms", "_users", "control", "db", "prefix", "room_prefix", "user_prefix")

    def __init__(self, db: int = 0) -> None:
        self.db = db
        self.prefix = b"kindred:" if db == 0 else b"kindred:db%d:" % db
        self.control = self.prefix + b"ctl"
        self.room_prefix = self.prefix + b"room:"
        self.user_prefix = self.prefix + b"user:"
        self._rooms: dict[str, bytes] = {}
        self._users: dict[str, bytes] = {}

    @classmethod
    def of(cls, redis: Any) -> Channels:
        """The channels of a ``redis.asyncio.Redis`` client, from its pool's database number."""
        return cls(int(redis.connection_pool.connection_kwargs.get("db") or 0))

    def __repr__(self) -> str:
        return f"Channels(db={self.db})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channels) and other.db == self.db

    def __hash__(self) -> int:
        return hash(self.db)

    def room(self, room: str) -> bytes:
        """Live frames of a room: ``m<seq>:<frame>`` for messages, ``e:<frame>`` for events."""
        name = self._rooms.get(room)
        if name is None:
            name = _keep(self._rooms, room, self.room_prefix + room.encode())
        return name

    def user(self, user_id: str) -> bytes:
        """Frames for one member's connections (notifications, unread counts), by public id;
        a gateway subscribes while the member has a connection on it."""
        name = self._users.get(user_id)
        if name is None:
            name = _keep(self._users, user_id, self.user_prefix + user_id.encode())
        return name

    def heartbeat(self, gateway_id: str) -> bytes:
        """The pub/sub watchdog's heartbeat, which a gateway sends to itself (built once by
        the broker)."""
        return self.prefix + b"hb:" + gateway_id.encode()


def _keep(names: dict[str, bytes], key: str, name: bytes) -> bytes:
    if len(names) >= _NAMES_MAX:
        names.clear()
    names[key] = name
    return name


def seq(room: str) -> str:
    """The room's seq counter."""
    return f"kindred:seq:{room}"


def log(room: str) -> str:
    """The room's recent log: a Stream whose entry ids are ``<seq>-0``."""
    return f"kindred:log:{room}"


def thread(message_id: str) -> str:
    """``room|thread root`` of a recent message, for replies."""
    return f"kindred:thread:{message_id}"


def tomb(room: str) -> str:
    """seq -> the frame of a removed message: streams cannot rewrite an entry, so a removed
    message's entry is deleted and its tombstone kept here for replays."""
    return f"kindred:tomb:{room}"


def cid(author_id: str, cid: str) -> str:
    """``id:seq:room`` of the message an author posted with this cid."""
    return f"kindred:cid:{author_id}:{cid}"


def slow_mode(room: str, user_id: str) -> str:
    """A member's slow-mode slot in a room, shared by every gateway."""
    return f"kindred:slow:{room}:{user_id}"


def talk(talk_id: str) -> str:
    """A private-talk request (hash): the request, then what became of it."""
    return f"kindred:talk:{talk_id}"


def talk_by_member(user_id: str) -> str:
    """The id of the member's waiting private-talk request (one at a time)."""
    return f"kindred:talk:by:{user_id}"
