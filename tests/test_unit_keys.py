"""keys.Channels: the names are the documented ones (database 0 plain, others numbered), each
built once and then the same object, and the per-name caches stay bounded."""

from __future__ import annotations

import pytest

from chat_server import keys
from chat_server.keys import Channels


def test_names_of_database_0_and_of_another() -> None:
    zero, three = Channels(0), Channels(3)
    assert zero.control == b"kindred:ctl" and three.control == b"kindred:db3:ctl"
    assert zero.room("lounge") == b"kindred:room:lounge"
    assert three.room("lounge") == b"kindred:db3:room:lounge"
    assert zero.user("u1") == b"kindred:user:u1" and three.user("u1") == b"kindred:db3:user:u1"
    assert zero.room_prefix == b"kindred:room:" and three.user_prefix == b"kindred:db3:user:"
    assert three.heartbeat("gw") == b"kindred:db3:hb:gw"
    assert zero.room("caf\u00e9") == "kindred:room:caf\u00e9".encode()
    assert Channels(3) == three and Channels(0) != three


def test_each_name_is_built_once() -> None:
    c = Channels(0)
    assert c.room("lounge") is c.room("lounge")
    assert c.user("u1") is c.user("u1")
    assert c.control is c.control


def test_the_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_NAMES_MAX", 8)
    c = Channels(0)
    for i in range(100):
        assert c.room(f"room-{i}") == f"kindred:room:room-{i}".encode()
        assert c.user(f"user-{i}") == f"kindred:user:user-{i}".encode()
        assert len(c._rooms) <= 8 and len(c._users) <= 8
