"""Bad input gets a clear error and changes nothing; the connection and the server stay healthy.

Every case checks three things:
* the answer: the exact error frame (``{"type": "error", "code": ...}``), close code or HTTP
  status, with the frame's ``cid`` echoed when it had a usable one;
* nothing changed: an observer in the room got no message and the room's ``seq`` did not
  advance (a fresh connection joining afterwards sees the same head, then posts a marker that
  gets exactly the next seq and is the only message the observer ever saw);
* health: the same connection still answers ``ping`` with ``pong`` when it was not closed, and
  a new connection can join and post.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from support.client import JSON, MSGPACK, Client
from support.cluster import ORG_A, ORG_B, Deployment, Member
from support.gateways import Gateway
from support.procs import TIMEOUT_SCALE

ORG_A_LOUNGE = "riverside-cancer-center-lounge"
ORG_B_LOUNGE = "hillcrest-oncology-lounge"
MAX_FRAME = 64 * 1024

# Letters only, without a/o/x: never a phone number, never a mail word ("aol", "gmx", ...).
_HANDLE_LETTERS = "bcdefhijklmnpqrstuvwyz"


def new_handle() -> str:
    return "kt" + "".join(secrets.choice(_HANDLE_LETTERS) for _ in range(10))


def register(dep: Deployment, org: tuple[str, str] = ORG_A, gateway: int = 0) -> Member:
    """Register and sign in a new member on ``gateway`` (wrapping around)."""
    return dep.register(org=org, gateway=gateway % len(dep.gateways))


def ws_url(dep: Deployment, i: int) -> str:
    return dep.gateways[i % len(dep.gateways)].ws_url


Conn = Client


Raw = bytes | str | dict[str, Any]


async def send_any(c: Client, data: Raw) -> None:
    if isinstance(data, dict):
        await c.send(data)
    else:
        await c.send_raw(data)


async def ping(c: Client) -> None:
    """The connection is open and answers: a ``pong`` arrives for a ``ping`` sent now."""
    start = len(c.frames)
    await c.send({"type": "ping"})
    await c.wait_frame("pong", start=start)


async def expect_error(c: Client, data: Raw, code: str, cid: str | None = None) -> dict[str, Any]:
    """Send one bad frame, then a ping. Exactly one error frame (with ``code``, and ``cid``
    when given, no cid otherwise) and nothing else of note must come before the pong."""
    start = len(c.frames)
    await send_any(c, data)
    await c.send({"type": "ping"})

    def pong_at(frames: list[dict[str, Any]]) -> int | None:
        for i in range(start, len(frames)):
            if frames[i].get("type") == "pong":
                return i
        return None

    end = await c.wait_until(pong_at, 5, f"error {code} then pong")
    answers = [f for f in c.frames[start:end] if f.get("type") not in ("presence", "typing", "room_state")]
    assert len(answers) == 1, f"expected one error frame for {data!r:.80}, got {answers}"
    error = answers[0]
    assert error["type"] == "error", error
    assert error["code"] == code, (data, error)
    assert isinstance(error.get("detail"), str) and error["detail"], error
    if cid is None:
        assert "cid" not in error, error
    else:
        assert error["cid"] == cid, error
    assert c.close_code is None
    return error


@dataclass
class Scene:
    """An actor and an observer (on another gateway in Redis mode) joined to ``room``."""

    dep: Deployment
    room: str
    org: tuple[str, str]
    actor: Client
    observer: Client
    actor_member: Member
    observer_member: Member
    head: int  # the room's seq once both had joined


@contextlib.asynccontextmanager
async def scene(
    dep: Deployment, room: str, protocol: str = MSGPACK, org: tuple[str, str] = ORG_A
) -> AsyncIterator[Scene]:
    actor_m, observer_m = register(dep, org), register(dep, org)
    actor = await Conn.connect(ws_url(dep, 0), actor_m.token, protocol=protocol)
    observer = await Conn.connect(ws_url(dep, 1), observer_m.token)
    try:
        first = await observer.join(room)
        joined = await actor.join(room)
        assert joined["seq"] == first["seq"]
        yield Scene(dep, room, org, actor, observer, actor_m, observer_m, joined["seq"])
    finally:
        await actor.close()
        await observer.close()


async def assert_untouched_and_serving(s: Scene, actor_open: bool = True) -> None:
    """Nothing reached the room; the server still takes a new connection that joins and posts;
    the observer (and the actor, unless it was closed) still answer ping."""
    m = register(s.dep, s.org, gateway=2)
    fresh = await Conn.connect(ws_url(s.dep, 2), m.token)
    try:
        joined = await fresh.join(s.room)
        assert joined["seq"] == s.head, "the room's seq advanced"
        cid = f"marker-{secrets.token_hex(4)}"
        ack = await fresh.post(s.room, "marker", cid=cid)
        assert ack["type"] == "ack" and ack["seq"] == s.head + 1, ack
        await s.observer.wait_frame("message", room=s.room, id=ack["id"])
        assert [(f["seq"], f["body"]) for f in s.observer.messages(s.room)] == [(s.head + 1, "marker")]
        assert not [f for f in s.observer.frames if f.get("type") in ("error", "ack")]
        await ping(s.observer)
        if actor_open:
            await ping(s.actor)
            assert [(f["seq"], f["body"]) for f in s.actor.messages(s.room)] == [(s.head + 1, "marker")]
    finally:
        await fresh.close()


# --------------------------------------------------------------------------- frame size


def padded_ping(size: int) -> bytes:
    """A msgpack ``ping`` frame of exactly ``size`` bytes (256 <= padding < 65536)."""
    base = len(msgpack.packb({"type": "ping", "pad": "x" * 300})) - 300
    data: bytes = msgpack.packb({"type": "ping", "pad": "x" * (size - base)})
    assert len(data) == size
    return data


async def test_oversized_frame_closes_1009_and_others_are_served(deployment: Deployment) -> None:
    async with scene(deployment, "lung-cancer") as s:
        await ping(s.actor)
        # Exactly 64 KiB is allowed: the padded ping is answered.
        start = len(s.actor.frames)
        await s.actor.send_raw(padded_ping(MAX_FRAME))
        await s.actor.wait_frame("pong", start=start)
        # A send far over the limit closes the connection with 1009 (message too big).
        big = {"type": "send", "room": s.room, "cid": "too-big", "body": "x" * (MAX_FRAME + 10)}
        await s.actor.send(big)
        assert await s.actor.wait_closed(5) == 1009
        assert not [f for f in s.actor.frames if f.get("type") == "ack"]
        await assert_untouched_and_serving(s, actor_open=False)


async def test_frame_one_byte_over_the_limit_closes_1009(deployment: Deployment) -> None:
    async with scene(deployment, "prostate-cancer") as s:
        await s.actor.send_raw(padded_ping(MAX_FRAME + 1))
        assert await s.actor.wait_closed(5) == 1009
        assert not [f for f in s.actor.frames if f.get("type") == "pong"]
        # The same member connects again without trouble.
        again = await Conn.connect(ws_url(deployment, 0), s.actor_member.token)
        try:
            await ping(again)
        finally:
            await again.close()
        await assert_untouched_and_serving(s, actor_open=False)


# --------------------------------------------------------------------------- undecodable


async def test_undecodable_msgpack_frames_get_bad_frame(deployment: Deployment) -> None:
    async with scene(deployment, "melanoma") as s:
        cases: list[Raw] = [
            b"\xc1",  # a byte msgpack never uses
            b"\x82\xa4type\xa4send\xa4ro",  # truncated map
            b"",  # empty binary frame
            '{"type": "ping"}',  # a text frame on a msgpack connection
            msgpack.packb([{"type": "ping"}]),  # a list, not a map
            msgpack.packb("ping"),  # a scalar
            msgpack.packb({"type": "ping"}) + b"\xc0",  # trailing bytes after the frame
            msgpack.packb({1: "ping"}),  # a non-string key
            msgpack.packb({"type": "ping", "blob": b"\x00\x01"}, use_bin_type=True),  # bin
            msgpack.packb({"type": 7}),  # type is not a string
            msgpack.packb({}),  # no type at all
            b"\x81\xa4type\xa2\xff\xfe",  # a string that is not UTF-8
            b"\x81\xc4\x04type\xa4ping",  # a binary map key
        ]
        for data in cases:
            await expect_error(s.actor, data, "bad_frame")
        # A bad frame that carried a cid gets it back.
        await expect_error(s.actor, msgpack.packb({"type": "send", "cid": "c-7", "room": 1}), "bad_frame", cid="c-7")
        await assert_untouched_and_serving(s)


async def test_undecodable_json_frames_get_bad_frame(deployment: Deployment) -> None:
    async with scene(deployment, "bladder-cancer", protocol=JSON) as s:
        cases: list[Raw] = [
            "{not json",
            '{"type": "send", "room": "bladder-cancer", "body": "hi", "cid": "x"',  # truncated
            "",
            '[{"type": "ping"}]',  # a list, not a map
            '"ping"',
            "null",
            b"\xff\xfe\x00",  # a binary frame that is not UTF-8
            '{"type": null}',
        ]
        for data in cases:
            await expect_error(s.actor, data, "bad_frame")
        # A JSON client may send binary frames holding UTF-8 JSON: they are understood.
        start = len(s.actor.frames)
        await s.actor.send_raw(b'{"type": "ping"}')
        await s.actor.wait_frame("pong", start=start)
        await assert_untouched_and_serving(s)


async def test_text_frame_that_is_not_utf8_closes_1007(deployment: Deployment) -> None:
    async with scene(deployment, "anal-cancer", protocol=JSON) as s:
        a = s.actor
        a.ws.protocol.send_text(b'{"type": "ping", "x": "\xff"}')
        a.ws.transport.write(b"".join(a.ws.protocol.data_to_send()))
        assert await a.wait_closed(5) == 1007
        assert not [f for f in a.frames if f.get("type") == "pong"]
        await assert_untouched_and_serving(s, actor_open=False)


async def test_text_frame_that_is_not_utf8_is_not_logged_as_a_crash(embedded: Deployment) -> None:
    gw = embedded.gateways[0]
    before = len(gw.log_path.read_text(errors="replace"))
    c = await Conn.connect(gw.ws_url, register(embedded).token, protocol=JSON)
    try:
        c.ws.protocol.send_text(b'{"type": "ping", "x": "\xff"}')
        c.ws.transport.write(b"".join(c.ws.protocol.data_to_send()))
        assert await c.wait_closed(5) == 1007  # the record is written before the close frame
    finally:
        await c.close()
    assert "Traceback" not in gw.log_path.read_text(errors="replace")[before:]


async def test_decode_bombs_are_refused_cheaply(deployment: Deployment) -> None:
    async with scene(deployment, "myeloma") as s:
        too_many_keys = {"type": "ping", **{f"k{i}": i for i in range(300)}}
        bombs: list[Raw] = [
            b"\xdd\xff\xff\xff\xff",  # array32 declaring 2**32-1 elements
            b"\xdf\xff\xff\xff\xff",  # map32 declaring 2**32-1 pairs
            b"\xdc\xff\xff",  # array16 declaring 65535 elements
            b"\xdb\xff\xff\xff\xff",  # str32 declaring a 4 GiB string
            b"\xc6\xff\xff\xff\xff",  # bin32 declaring a 4 GiB blob
            b"\x81\xa4type\xdd\xff\xff\xff\xff",  # a map whose value declares 2**32-1 elements
            b"\x91" * 5000,  # 5000 nested one-element arrays
            b"\x81\xa1a" * 5000,  # 5000 nested one-pair maps
            msgpack.packb(too_many_keys),  # more keys than any frame needs
            msgpack.packb({"type": "ping", "x": [[[[[[[1]]]]]]]}),  # 9 levels: one too deep
        ]
        started = time.monotonic()
        for data in bombs:
            await expect_error(s.actor, data, "bad_frame")
        assert time.monotonic() - started < 10 * TIMEOUT_SCALE
        await assert_untouched_and_serving(s)


async def test_json_decode_bombs_are_refused(deployment: Deployment) -> None:
    async with scene(deployment, "soft-tissue-sarcoma", protocol=JSON) as s:
        bombs: list[Raw] = [
            "[" * 60000,  # deep nesting, under 64 KiB
            '{"a":' * 12000,  # deep nesting of objects
            json.dumps({"type": "ping", "x": [[[[[[[1]]]]]]]}),  # 9 levels: one too deep
        ]
        for data in bombs:
            assert len(data) <= MAX_FRAME
            await expect_error(s.actor, data, "bad_frame")
        # Eight levels are allowed: this ping is answered.
        start = len(s.actor.frames)
        await s.actor.send_raw(json.dumps({"type": "ping", "x": [[[[[[1]]]]]]}))
        await s.actor.wait_frame("pong", start=start)
        await assert_untouched_and_serving(s)


# --------------------------------------------------------------------------- frame shape


async def test_unknown_types_and_missing_fields(deployment: Deployment) -> None:
    async with scene(deployment, "kidney-cancer") as s:
        room = s.room
        await expect_error(s.actor, {"type": "shout", "room": room}, "unknown_type")
        await expect_error(s.actor, {"type": "SEND", "room": room, "body": "x", "cid": "u1"}, "unknown_type", cid="u1")
        await expect_error(s.actor, {"type": "x" * 5000}, "unknown_type")
        bad: list[tuple[dict[str, Any], str | None]] = [
            ({"type": "send", "room": room, "body": "no cid"}, None),
            ({"type": "send", "room": room, "body": "empty cid", "cid": ""}, ""),
            ({"type": "send", "room": room, "cid": "m-body"}, "m-body"),
            ({"type": "send", "room": room, "body": 42, "cid": "int-body"}, "int-body"),
            ({"type": "send", "room": room, "body": ["a"], "cid": "list-body"}, "list-body"),
            ({"type": "send", "body": "no room", "cid": "m-room"}, "m-room"),
            ({"type": "send", "room": "", "body": "empty room", "cid": "e-room"}, "e-room"),
            ({"type": "send", "room": "r" * 65, "body": "long room", "cid": "l-room"}, "l-room"),
            ({"type": "join"}, None),
            ({"type": "join", "room": 5}, None),
            ({"type": "join", "room": room, "since": -1}, None),
            ({"type": "join", "room": room, "since": "5"}, None),
            ({"type": "join", "room": room, "since": 1.5}, None),
            ({"type": "join", "room": room, "since": True}, None),
            ({"type": "leave"}, None),
            ({"type": "typing"}, None),
        ]
        for frame, cid in bad:
            await expect_error(s.actor, frame, "bad_frame", cid=cid)
        # A refused join of the room already joined did not drop the membership.
        await ping(s.actor)
        await assert_untouched_and_serving(s)


async def test_missing_fields_over_json(deployment: Deployment) -> None:
    async with scene(deployment, "thyroid-cancer", protocol=JSON) as s:
        await expect_error(s.actor, {"type": "send", "room": s.room, "body": "no cid"}, "bad_frame")
        await expect_error(s.actor, {"type": "send", "room": s.room, "cid": "j-1"}, "bad_frame", cid="j-1")
        await expect_error(s.actor, {"type": "join", "since": 0}, "bad_frame")
        await expect_error(s.actor, {"type": "join", "room": s.room, "since": -5}, "bad_frame")
        await expect_error(s.actor, {"type": "nope"}, "unknown_type")
        await assert_untouched_and_serving(s)


# --------------------------------------------------------------------------- rooms


async def test_joining_rooms_not_open_to_you(deployment: Deployment) -> None:
    async with scene(deployment, ORG_A_LOUNGE) as s:
        outsider = register(deployment, ORG_B)
        o = await Conn.connect(ws_url(deployment, 0), outsider.token)
        try:
            foreign = await expect_error(o, {"type": "join", "room": ORG_A_LOUNGE}, "no_such_room")
            missing = await expect_error(o, {"type": "join", "room": "no-such-room-here"}, "no_such_room")
            # The two refusals cannot be told apart except by the name the client sent.
            assert foreign["detail"].replace(ORG_A_LOUNGE, "R") == missing["detail"].replace("no-such-room-here", "R")
            await expect_error(o, {"type": "join", "room": ORG_A_LOUNGE, "since": 0}, "no_such_room")
            # A cid on any frame is echoed, so a client can tell which join failed.
            await expect_error(o, {"type": "join", "room": ORG_A_LOUNGE, "cid": "j-1"}, "no_such_room", cid="j-1")
            # Not joined, so it cannot post there or show as typing either.
            await expect_error(o, {"type": "send", "room": ORG_A_LOUNGE, "body": "hi", "cid": "o1"}, "not_joined", cid="o1")
            await expect_error(o, {"type": "typing", "room": ORG_A_LOUNGE}, "not_joined")
            # And the other way round: an ORG_A member cannot join ORG_B's lounge.
            await expect_error(s.actor, {"type": "join", "room": ORG_B_LOUNGE}, "no_such_room")
            await o.join("newly-diagnosed")  # the outsider's connection is fine for national rooms
            await assert_untouched_and_serving(s)
            # The outsider never appeared in the room.
            for f in s.observer.frames:
                if f.get("type") == "presence":
                    assert outsider.id not in {m["id"] for m in [*f["joined"], *f["left"]]}
            assert outsider.id not in s.observer.present_ids(s.room)
        finally:
            await o.close()


async def test_send_refusals(deployment: Deployment) -> None:
    async with scene(deployment, "ovarian-cancer") as s:
        room = s.room
        a = s.actor
        await expect_error(a, {"type": "send", "room": "breast-cancer", "body": "hi", "cid": "nj-1"}, "not_joined", cid="nj-1")
        await expect_error(a, {"type": "send", "room": "no-such-room", "body": "hi", "cid": "nj-2"}, "not_joined", cid="nj-2")
        await expect_error(a, {"type": "send", "room": room, "body": "", "cid": "e-1"}, "invalid_body", cid="e-1")
        await expect_error(a, {"type": "send", "room": room, "body": " \n\t ", "cid": "e-2"}, "invalid_body", cid="e-2")
        await expect_error(a, {"type": "send", "room": room, "body": "x" * 4001, "cid": "l-1"}, "invalid_body", cid="l-1")
        await expect_error(a, {"type": "send", "room": room, "body": "é" * 4001, "cid": "l-2"}, "invalid_body", cid="l-2")
        await expect_error(a, {"type": "send", "room": room, "body": "a\x00b", "cid": "nul"}, "invalid_body", cid="nul")
        # Far over the limit the frame is refused before the body is looked at (documented here).
        await expect_error(a, {"type": "send", "room": room, "body": "x" * 12000, "cid": "l-3"}, "bad_frame", cid="l-3")
        for reply_to in ("not-an-id", "0" * 31, "0" * 33, "A" * 32, "g" * 32, 12345, ["x"]):
            await expect_error(
                a, {"type": "send", "room": room, "body": "re", "cid": "r-1", "reply_to": reply_to}, "bad_frame", cid="r-1"
            )
        # A cid the server will not accept is still echoed when it is a short string...
        await expect_error(a, {"type": "send", "room": room, "body": "hi", "cid": "has space"}, "bad_frame", cid="has space")
        # ...but not when it is too long to be one.
        await expect_error(a, {"type": "send", "room": room, "body": "hi", "cid": "c" * 65}, "bad_frame")
        await assert_untouched_and_serving(s)
        # The limits are exact: 4000 characters (after trimming trailing space) is accepted.
        body = "y" * 4000
        ack = await a.post(room, body + "   ", cid="max-len")
        assert ack["type"] == "ack" and ack["seq"] == s.head + 2, ack
        got = await s.observer.wait_frame("message", room=room, id=ack["id"])
        assert got["body"] == body


async def _join_nul_room(dep: Deployment, room: str) -> None:
    """A NUL in the room name: no such room, like any other unknown name, and a refused
    frame like any other (ten in a row close the socket)."""
    async with scene(dep, room) as s:
        a = s.actor
        await expect_error(a, {"type": "join", "room": "pain\x00"}, "no_such_room")
        await expect_error(a, {"type": "join", "room": "\x00"}, "no_such_room")
        for _ in range(9):
            await a.send({"type": "join", "room": "x\x00"})
        await a.wait_until(lambda f: sum(x.get("code") == "no_such_room" for x in f) >= 11, 5, "refusals")
        await a.send({"type": "join", "room": "x\x00"})
        assert await a.wait_closed(5) == 1008
        await assert_untouched_and_serving(s, actor_open=False)


async def _join_huge_since(dep: Deployment, room: str) -> None:
    """A ``since`` beyond anything the room can reach (the protocol allows any non-negative
    integer): joined, up to date, nothing replayed."""
    async with scene(dep, room, protocol=JSON) as s:  # JSON: integers beyond 64 bits
        a = s.actor
        for since in (2**63, 2**64 - 1, 10**30):
            start = len(a.frames)
            await a.send({"type": "join", "room": room, "since": since})

            def answered(frames: list[dict[str, Any]], start: int = start) -> dict[str, Any] | None:
                return next((x for x in frames[start:] if x.get("type") in ("joined", "error")), None)

            answer = await a.wait_until(answered, 5, f"answer to join since={since}")
            assert answer == {**answer, "type": "joined", "room": room, "seq": s.head}, (since, answer)
        await assert_untouched_and_serving(s)


async def test_nul_in_room_name_embedded(embedded: Deployment) -> None:
    await _join_nul_room(embedded, "nutrition")


async def test_nul_in_room_name_redis(redis_cluster: Deployment) -> None:
    await _join_nul_room(redis_cluster, "nutrition")


async def test_huge_since_embedded(embedded: Deployment) -> None:
    await _join_huge_since(embedded, "exercise-and-movement")


async def test_huge_since_redis(redis_cluster: Deployment) -> None:
    await _join_huge_since(redis_cluster, "exercise-and-movement")


# --------------------------------------------------------------------------- handshakes


async def test_handshake_refusals(deployment: Deployment) -> None:
    m = register(deployment)
    for i, gw in enumerate(deployment.gateways):
        url, port = gw.ws_url, gw.port

        async def refused(
            token: str | None, status: int, code: str, url: str = url, **kw: Any
        ) -> None:
            with pytest.raises(InvalidStatus) as caught:
                c = await Conn.connect(url, token, **kw)
                await c.close()
            response = caught.value.response
            assert response.status_code == status, (kw, response.status_code)
            assert json.loads(response.body or b"{}")["error"] == code

        await refused(None, 401, "unauthenticated")
        await refused("not-a-real-token", 401, "unauthenticated")
        await refused("", 401, "unauthenticated")
        await refused(m.token, 403, "forbidden_origin", origin="https://evil.example")
        await refused(m.token, 403, "forbidden_origin", origin=f"http://localhost:{port}")
        await refused(m.token, 403, "forbidden_origin", origin=f"https://127.0.0.1:{port}")
        await refused(m.token, 403, "forbidden_origin", origin=f"http://127.0.0.1:{port}.evil.example")
        await refused(m.token, 403, "forbidden_origin", origin="null")
        await refused(m.token, 400, "bad_subprotocol", protocol="chat.v2")
        await refused(None, 401, "unauthenticated", headers={"Cookie": "kindred_session=forged"})
        # A cross-site page cannot ride on the session cookie (cross-site WebSocket hijacking).
        await refused(
            None, 403, "forbidden_origin", origin="https://evil.example",
            headers={"Cookie": f"kindred_session={m.token}"},
        )

        # Same origin is accepted, with the token or with the session cookie.
        same = f"http://127.0.0.1:{port}"
        ok = await Conn.connect(url, m.token, origin=same)
        cookie = await Conn.connect(
            url, None, protocol=JSON, origin=same + "/", headers={"Cookie": f"kindred_session={m.token}"}
        )
        try:
            await ping(ok)
            await ping(cookie)
            joined = await cookie.join("caregivers")
            ack = await cookie.post("caregivers", f"from gateway {i}", cid=f"hs-{i}")
            assert ack["type"] == "ack" and ack["seq"] == joined["seq"] + 1
        finally:
            await ok.close()
            await cookie.close()


async def test_subprotocol_negotiation(deployment: Deployment) -> None:
    m = register(deployment)
    url = ws_url(deployment, 0)
    # Ours among foreign ones: ours is picked.
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {m.token}"},
        subprotocols=["chat.v2", JSON],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == JSON
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5 * TIMEOUT_SCALE)) == {"type": "pong"}
    # None offered: msgpack by default.
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {m.token}"}) as ws:
        assert ws.subprotocol is None
        await ws.send(msgpack.packb({"type": "ping"}))
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5 * TIMEOUT_SCALE)) == {"type": "pong"}


# --------------------------------------------------------------------------- strikes


async def test_ten_bad_frames_in_a_row_close_1008(deployment: Deployment) -> None:
    async with scene(deployment, "pancreatic-cancer") as s:
        a = s.actor

        async def bad_frames(n: int) -> None:
            start = len(a.frames)
            for i in range(n):
                await a.send({"type": f"bogus-{i}"})
            await a.wait_until(
                lambda f: sum(x.get("type") == "error" for x in f[start:]) >= n, 5, f"{n} errors"
            )

        # Nine refusals in a row are tolerated; a good frame starts the count again.
        await bad_frames(9)
        await ping(a)
        await bad_frames(9)
        await ping(a)
        await bad_frames(9)
        assert a.close_code is None
        await a.send({"type": "bogus-tenth"})
        assert await a.wait_closed(5) == 1008
        assert a.close_reason == "too many refused frames"
        # The member is not locked out: a new connection works.
        again = await Conn.connect(ws_url(deployment, 1), s.actor_member.token)
        try:
            await ping(again)
        finally:
            await again.close()
        await assert_untouched_and_serving(s, actor_open=False)


# --------------------------------------------------------------------------- strict deployment


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One embedded gateway with tight limits: 1 message/s with a burst of 3, 5 strikes,
    2 connections per member."""
    env = {
        "KINDRED_SEND_RATE": "60",
        "KINDRED_SEND_BURST": "3",
        "KINDRED_STRIKES_BEFORE_CLOSE": "5",
        "KINDRED_MAX_CONNECTIONS_PER_MEMBER": "2",
    }
    dep = Deployment.start(tmp_path_factory.mktemp("strict"), count=1, extra_env=env)
    yield dep
    dep.stop()


def _flood(room: str, n: int) -> list[dict[str, Any]]:
    return [{"type": "send", "room": room, "body": f"flood {i}", "cid": f"f{i}"} for i in range(n)]


async def _answer(c: Client, cid: str) -> dict[str, Any]:
    found: dict[str, Any] = await c.wait_until(
        lambda frames: next((f for f in frames if f.get("cid") == cid), None), 5, f"answer to {cid}"
    )
    return found


async def test_flood_is_rate_limited_then_closed_1008(strict: Deployment) -> None:
    """Sends one after another (each answered before the next, all within a second): the burst
    of 3 is posted, then ``rate_limited`` errors: the first says how long to wait, and the fifth
    send in a row that did not wait closes the socket with 1008. Nothing beyond the burst
    reaches the room."""
    async with scene(strict, "fatigue") as s:
        a = s.actor
        second = await Conn.connect(ws_url(strict, 0), s.actor_member.token)
        try:
            frames = _flood(s.room, 20)
            for frame in frames[:3]:
                await a.send(frame)
                answer = await _answer(a, frame["cid"])
                assert answer["type"] == "ack", answer
            for frame in frames[3:8]:
                await a.send(frame)
                answer = await _answer(a, frame["cid"])
                assert answer["type"] == "error" and answer["code"] == "rate_limited", answer
                assert answer["detail"].startswith("slow down"), answer
            await a.send(frames[8])  # the fifth send in a row that did not wait
            assert await a.wait_closed(5) == 1008
            assert a.close_reason == "too many refused frames"
            with pytest.raises(websockets.ConnectionClosed):
                await a.send(frames[9])
            answered = [(f["type"], f["cid"]) for f in a.frames if f.get("type") in ("ack", "error")]
            assert answered == [("ack", f"f{i}") for i in range(3)] + [("error", f"f{i}") for i in range(3, 9)]
            # The observer got exactly the three accepted messages.
            await s.observer.wait_until(lambda f: len(s.observer.messages(s.room)) >= 3, 5, "3 messages")
            # The member's other connection is still usable, and the closed one's slot is free.
            await ping(second)
            again = await _connect_within(ws_url(strict, 0), s.actor_member.token, 5)
            await ping(again)
            await again.close()
            # Another member is not limited by this one's flood.
            other = register(strict)
            o = await Conn.connect(ws_url(strict, 0), other.token)
            try:
                await o.join(s.room)
                ack = await o.post(s.room, "not me", cid="other-1")
                assert ack["type"] == "ack" and ack["seq"] == s.head + 4, ack
                await s.observer.wait_frame("message", room=s.room, id=ack["id"])
                assert [m["body"] for m in s.observer.messages(s.room)] == [
                    "flood 0", "flood 1", "flood 2", "not me"
                ]
            finally:
                await o.close()
        finally:
            await second.close()


def _send_in_one_write(c: Client, frames: list[dict[str, Any]]) -> None:
    """Queue ``frames`` as WebSocket frames and hand them to the socket in one write, so the
    server reads them all at once (a client flooding from a loop looks like this)."""
    for frame in frames:
        c.ws.protocol.send_binary(msgpack.packb(frame))
    c.ws.transport.write(b"".join(c.ws.protocol.data_to_send()))


async def test_flood_in_one_write_still_gets_its_acks_and_errors(strict: Deployment) -> None:
    """A burst read all at once is handled without the writer running in between: the policy
    close must still let the client read the acks and the errors that explain it."""
    async with scene(strict, "sleep") as s:
        a = s.actor
        _send_in_one_write(a, _flood(s.room, 20))
        assert await a.wait_closed(5) == 1008
        await s.observer.wait_until(lambda f: len(s.observer.messages(s.room)) >= 3, 5, "3 messages")
        assert [m["body"] for m in s.observer.messages(s.room)] == ["flood 0", "flood 1", "flood 2"]
        # Every accepted message is acknowledged and every refusal explained before the close.
        answered = [(f["type"], f.get("code"), f["cid"]) for f in a.frames if "cid" in f]
        assert answered == [("ack", None, f"f{i}") for i in range(3)] + [
            ("error", "rate_limited", f"f{i}") for i in range(3, 9)
        ]


async def _connect_within(url: str, token: str, timeout_s: float) -> Client:
    """Connect, retrying 429 refusals until ``timeout_s`` (a slot frees asynchronously)."""
    deadline = time.monotonic() + timeout_s * TIMEOUT_SCALE
    while True:
        try:
            return await Conn.connect(url, token)
        except InvalidStatus as exc:
            if exc.response.status_code != 429 or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.05)


async def _refused_429(url: str, token: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        extra = await Conn.connect(url, token)
        await extra.close()
    assert caught.value.response.status_code == 429
    assert json.loads(caught.value.response.body or b"{}")["error"] == "too_many_connections"


async def _check_connection_cap(dep: Deployment) -> None:
    """Cap 2: a third connection is refused on every gateway; refused attempts are not
    counted; closing one frees exactly one slot."""
    m = register(dep)
    urls = [gw.ws_url for gw in dep.gateways]
    first = await Conn.connect(ws_url(dep, 0), m.token)
    second = await Conn.connect(ws_url(dep, 1), m.token)
    third: Client | None = None
    try:
        for _ in range(2):
            for url in urls:
                await _refused_429(url, m.token)
        await ping(first)
        await ping(second)
        # Someone else is not affected by this member's cap.
        other = await Conn.connect(urls[-1], register(dep).token)
        await ping(other)
        await other.close()
        await first.close()
        third = await _connect_within(ws_url(dep, 1), m.token, 5)
        await ping(third)
        await ping(second)
        # The slot freed by the close was taken again: the cap still holds everywhere.
        for url in urls:
            await _refused_429(url, m.token)
    finally:
        await first.close()
        await second.close()
        if third is not None:
            await third.close()


async def test_connection_cap_per_member(strict: Deployment) -> None:
    await _check_connection_cap(strict)


@pytest.fixture(scope="module")
def capped_gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_cluster: Deployment
) -> Iterator[Gateway]:
    """One more gateway on the Redis cluster's redis-server and database (set up by
    ``redis_cluster``), allowing 2 connections per member; the cluster's own allow 8."""
    env = {**redis_cluster.env, "KINDRED_MAX_CONNECTIONS_PER_MEMBER": "2"}
    gw = Gateway(env, tmp_path_factory.mktemp("capped"), name="capped")
    gw.start()
    yield gw
    gw.kill()


async def test_connection_cap_counts_connections_on_every_gateway(
    redis_cluster: Deployment, capped_gateway: Gateway
) -> None:
    m = register(redis_cluster)
    first = await Conn.connect(ws_url(redis_cluster, 0), m.token)
    second = await Conn.connect(ws_url(redis_cluster, 1), m.token)
    third: Client | None = None
    try:
        # Two open on other gateways: the capped one refuses a third.
        await _refused_429(capped_gateway.ws_url, m.token)
        await first.close()
        third = await _connect_within(capped_gateway.ws_url, m.token, 5)
        await ping(third)
        await ping(second)
        await _refused_429(capped_gateway.ws_url, m.token)
        # The other gateways, allowing 8, still take more.
        fourth = await Conn.connect(ws_url(redis_cluster, 2), m.token)
        await ping(fourth)
        await fourth.close()
    finally:
        await first.close()
        await second.close()
        if third is not None:
            await third.close()


# --------------------------------------------------------------------------- server logs


# uvicorn's record for a non-UTF-8 text frame (see the xfail above), left out here so that
# this check still catches everything else.
_UTF8_RECORD = re.compile(
    r"ERROR:\s+Invalid UTF-8 sequence received from client\.\n"
    r"Traceback \(most recent call last\):\n(?:[ \t].*\n)*UnicodeDecodeError: .*(?:\n|$)"
)


def test_no_unhandled_errors_in_gateway_logs(deployment: Deployment, strict: Deployment) -> None:
    """Everything above was refused on purpose: none of it may surface as a server crash."""
    for dep in (deployment, strict):
        for gw in dep.gateways:
            assert gw.running, f"{gw.name} exited"
            log = _UTF8_RECORD.sub("", gw.log_path.read_text(errors="replace"))
            assert "Traceback" not in log, log[-3000:]
            assert "Exception in ASGI application" not in log, log[-3000:]
            assert "frame handling failed" not in log, log[-3000:]
