"""Presence bookkeeping and the wire codec, pure."""

from __future__ import annotations

import json

import msgpack
import pytest

from chat_server import wire
from chat_server.config import Settings, SettingsError
from chat_server.protocol import message
from chat_server.protocol.base import encode
from presence.state import ConnectionCounts, RoomPresence
from rooms.errors import BadFrame

ALICE = {"id": "u1", "handle": "alice", "role": "member"}


def test_presence_counts_gateways_per_user() -> None:
    room = RoomPresence()
    assert room.enter("gw1", ALICE, until=10) is True
    assert room.enter("gw2", ALICE, until=10) is False  # already present via gw1
    assert room.enter("gw1", ALICE, until=20) is False  # a refresh
    assert room.leave("gw1", "u1") is None  # still held by gw2
    assert room.present() == [ALICE]
    assert room.leave("gw2", "u1") == ALICE
    assert room.present() == [] and room.empty()


def test_presence_sweep_removes_a_dead_gateway() -> None:
    room = RoomPresence()
    room.enter("dead", ALICE, until=5)
    room.enter("live", {"id": "u2", "handle": "bob", "role": "member"}, until=50)
    assert room.sweep(now=4) == []
    assert room.sweep(now=5) == [ALICE]
    assert [u["id"] for u in room.present()] == ["u2"]
    assert room.leave("dead", "u1") is None  # already swept: told once only


def test_connection_cap_with_expiry() -> None:
    conns = ConnectionCounts()
    assert conns.open("u1", "a", until=10, now=0, cap=2)
    assert conns.open("u1", "b", until=10, now=0, cap=2)
    assert not conns.open("u1", "c", until=10, now=0, cap=2)
    assert conns.open("u1", "a", until=20, now=1, cap=2)  # a refresh is not a new one
    conns.close("u1", "b")
    assert conns.open("u1", "c", until=10, now=1, cap=2)
    assert conns.open("u1", "d", until=30, now=25, cap=2)  # the others expired


def test_message_prefix_plus_seq_is_the_whole_frame() -> None:
    author = {"id": "u1", "handle": "alice", "role": "member"}
    prefix = message.message_prefix("lung-cancer", "f" * 32, author, "héllo", None, 1234)
    for seq in (1, 127, 128, 65_536, 2**40):
        frame = msgpack.unpackb(message.finish_message(prefix, seq), raw=False)
        assert frame == {
            "type": "message", "room": "lung-cancer", "id": "f" * 32, "author": author,
            "body": "héllo", "reply_to": None, "thread_root": None, "ts": 1234, "seq": seq,
        }


def test_outgoing_json_is_derived_once() -> None:
    out = encode({"type": "pong", "n": [1, 2]})
    first = out.json
    assert json.loads(first) == {"type": "pong", "n": [1, 2]}
    assert out.json is first


@pytest.mark.parametrize(
    ("data", "protocol"),
    [
        (b"\xc1", wire.MSGPACK),  # never-used byte
        (b"\xdd\xff\xff\xff\xff", wire.MSGPACK),  # array of 2**32-1
        (b"\xdf\xff\xff\xff\xff", wire.MSGPACK),  # map of 2**32-1
        (b"\x91" * 5000, wire.MSGPACK),  # deep nesting
        (msgpack.packb([1, 2]), wire.MSGPACK),  # not a map
        (msgpack.packb({1: 2}), wire.MSGPACK),  # non-string key
        ("text frame", wire.MSGPACK),
        ("{bad", wire.JSON),
        ("[" * 60000, wire.JSON),
        (b"\xff\xfe", wire.JSON),  # not UTF-8
        ('"a string"', wire.JSON),
        (json.dumps({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}), wire.JSON),
    ],
)
def test_decode_refuses(data: bytes | str, protocol: str) -> None:
    with pytest.raises(BadFrame):
        wire.decode(data, protocol)


def test_decode_accepts_both_protocols() -> None:
    frame = {"type": "send", "room": "r", "body": "b", "cid": "c"}
    assert wire.decode(msgpack.packb(frame), wire.MSGPACK) == frame
    assert wire.decode(json.dumps(frame), wire.JSON) == frame


def test_settings_from_env_and_validation() -> None:
    s = Settings.from_env({"KINDRED_PORT": "9000", "KINDRED_ALLOWED_ORIGINS": "https://a.org/, https://b.org",
                           "KINDRED_DATABASE_URL": "postgres://u:p@h/db", "KINDRED_COOKIE_SECURE": "yes"})
    assert s.port == 9000 and s.allowed_origins == ("https://a.org", "https://b.org")
    assert s.effective_database_url == "postgresql+asyncpg://u:p@h/db" and s.cookie_secure
    default = Settings.from_env({})
    assert default.redis_url is None and default.is_sqlite and default.secret_key is None
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"KINDRED_PORT": "x", "KINDRED_SEND_RATE": "-1", "KINDRED_SECRET_KEY": "short"})
    message = str(info.value)
    assert "KINDRED_PORT" in message and "KINDRED_SEND_RATE" in message and "KINDRED_SECRET_KEY" in message
