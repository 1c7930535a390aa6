"""Issue 13, point 3: text no encoder accepts (lone surrogates) is refused when the frame is
decoded, with ``bad_frame``, for every string field of every frame type; an error frame never
echoes it; nothing reaches the logs as a traceback. Then a fuzz test: generated frames of
every type (surrogates, control characters, wrong types, huge and negative numbers) over both
subprotocols to a live server, each answered with a documented frame, error code or close code.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.client import JSON, MSGPACK, Client
from support.cluster import ORG_A, Deployment
from support.moderation import default_org, make_staff
from support.procs import TIMEOUT_SCALE

LOUNGE = default_org(ORG_A).lounge
NATIONAL = "nutrition"
SURROGATES = ["\ud800", "\udfff", "a\udc80b", "\ud83d"]  # lone halves of a pair
# Every field of every client frame (docs/protocol.md §3).
FIELDS: dict[str, tuple[str, ...]] = {
    "join": ("room", "since", "cid"),
    "leave": ("room", "cid"),
    "send": ("room", "body", "cid", "reply_to", "confirm_phi"),
    "typing": ("room", "cid"),
    "ping": ("cid",),
    "moderate": ("room", "action", "user", "message", "duration_s", "reason", "platform", "cid"),
    "duty": ("on", "cid"),
}
VALID: dict[str, Any] = {
    "room": LOUNGE, "since": 0, "cid": "c-1", "body": "hello", "reply_to": None,
    "confirm_phi": False, "action": "mute", "user": "u" + "0" * 16, "message": None,
    "duration_s": 60, "reason": "testing", "platform": False, "on": False,
}
# docs/protocol.md §6 and §7.
ERROR_CODES = {
    "bad_frame", "unknown_type", "no_such_room", "not_joined", "rate_limited", "invalid_body",
    "unavailable", "too_many_rooms", "forbidden", "no_such_member", "no_such_message", "muted",
    "banned", "kicked", "locked", "slow_mode",
}  # `internal` is documented too, but means a bug of ours: never expected here
CLOSE_CODES = {1007, 1008, 1009, 1013}
SERVER_TYPES = {
    "joined", "message", "ack", "presence", "typing", "gap", "left", "pong", "confirm",
    "moderated", "muted", "unmuted", "kicked", "banned", "removed", "room_state", "alert", "duty",
}
FUZZ_BUDGET_S = 45.0


@pytest.fixture(scope="module")
def fuzz_dep(embedded: Deployment) -> Iterator[tuple[Deployment, str]]:
    # An admin: the moderation paths (reason, duration, user, platform) are reached, not only
    # refused as `not_staff` before they look at anything.
    admin = make_staff(embedded, ORG_A, "admin")
    yield embedded, admin.token


def _pack(frame: dict[str, Any], protocol: str) -> bytes | str:
    if protocol == JSON:
        return json.dumps(frame)  # ASCII: a lone surrogate goes out as a \\udXXX escape
    # msgpack cannot carry a surrogate as valid UTF-8: this sends the invalid bytes a hostile
    # encoder would.
    packed: bytes = msgpack.packb(frame, unicode_errors="surrogatepass")
    return packed


async def _answers(c: Client, data: bytes | str) -> tuple[list[dict[str, Any]], int | None]:
    """Send ``data`` then a ping; the frames that came before the pong, or the close code."""
    start = len(c.frames)
    await c.send_raw(data)
    if c.close_code is None:
        with contextlib.suppress(Exception):  # closed meanwhile: the close code says why
            await c.send({"type": "ping", "cid": "fuzz-ping"})

    def pong_at(frames: list[dict[str, Any]]) -> int | None:
        for i in range(start, len(frames)):
            if frames[i].get("type") == "pong":
                return i
        return None

    try:
        end = await c.wait_until(pong_at, 10, "pong after a fuzzed frame")
    except ConnectionError:
        return c.frames[start:], c.close_code
    return c.frames[start:end], None


def _check(frames: list[dict[str, Any]], close: int | None, sent: Any) -> None:
    for f in frames:
        kind = f.get("type")
        if kind == "error":
            assert f.get("code") in ERROR_CODES, (sent, f)
            for value in f.values():
                if isinstance(value, str):
                    value.encode("utf-8")  # never an unencodable echo
        else:
            assert kind in SERVER_TYPES, (sent, f)
    if close is not None:
        assert close in CLOSE_CODES, (sent, close)


def _log_clean(dep: Deployment) -> None:
    for gw in dep.gateways:
        log = gw.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert "Exception in ASGI application" not in log, log[-3000:]
        assert "frame handling failed" not in log, log[-3000:]


@pytest.mark.parametrize("protocol", [JSON, MSGPACK])
async def test_unencodable_text_in_any_field_is_bad_frame(
    fuzz_dep: tuple[Deployment, str], protocol: str
) -> None:
    dep, token = fuzz_dep
    c = await Client.connect(dep.gateways[0].ws_url, token, protocol=protocol)
    try:
        await c.join(LOUNGE)
        for kind, fields in FIELDS.items():
            for name in fields:
                for bad in SURROGATES:
                    frame = {"type": kind, **{f: VALID[f] for f in fields}, name: bad}
                    frames, close = await _answers(c, _pack(frame, protocol))
                    assert close is None, (frame, close)
                    errors = [f for f in frames if f.get("type") == "error"]
                    assert [e["code"] for e in errors] == ["bad_frame"], (frame, frames)
                    # Nothing of the refused frame is echoed: its strings cannot be trusted.
                    assert "room" not in errors[0] and "cid" not in errors[0], errors
        # In the type itself, and in a field nobody knows.
        for frame in ({"type": "ping\ud800"}, {"type": "ping", "extra\udfff": 1},
                      {"type": "send", "room": LOUNGE, "cid": "c-2", "body": ["\ud800"]}):
            frames, close = await _answers(c, _pack(frame, protocol))
            assert close is None and [f.get("code") for f in frames] == ["bad_frame"], (frame, frames)
        # Strikes were reset by the pings in between: the connection is healthy.
        assert c.close_code is None
        assert (await c.post(LOUNGE, "still fine", cid=f"ok-{protocol[-4:]}"))["type"] == "ack"
    finally:
        await c.close()
    _log_clean(dep)


# --------------------------------------------------------------------------- the fuzz test

_text = st.one_of(
    st.text(max_size=80),  # any code point, surrogates included
    st.text(alphabet=st.characters(codec=None, categories=("Cs", "Cc")), max_size=20),
    st.sampled_from([LOUNGE, NATIONAL, "c-1", "u" + "0" * 16, "0" * 32, "mute", "ban", "kick",
                     "slow_mode", "lock", "pin", "", " ", "\x00", "\u202e", "x" * 5000]),
)
_number = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=-(2**200), max_value=2**200),  # JSON only: msgpack refuses to pack
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
)
_scalar = st.one_of(st.none(), st.booleans(), _number, _text)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
_type = st.one_of(st.sampled_from(sorted(FIELDS)), _value)


@st.composite
def _frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(_type)
    names = FIELDS.get(kind, ()) if isinstance(kind, str) else ()
    frame: dict[str, Any] = {"type": kind}
    for name in names:
        if draw(st.booleans()):
            frame[name] = VALID[name] if draw(st.booleans()) else draw(_value)
    frame.update(draw(st.dictionaries(st.sampled_from(sorted(VALID)), _value, max_size=2)))
    return frame


class _Fuzzer:
    """One connection per subprotocol, opened again whenever the server closed one."""

    def __init__(self, dep: Deployment, token: str) -> None:
        self.dep, self.token = dep, token
        self.clients: dict[str, Client] = {}
        self.deadline = time.monotonic() + FUZZ_BUDGET_S * TIMEOUT_SCALE
        self.sent = 0

    async def client(self, protocol: str) -> Client:
        c = self.clients.get(protocol)
        if c is None or c.close_code is not None:
            if c is not None:
                await c.close()
            c = self.clients[protocol] = await Client.connect(
                self.dep.gateways[0].ws_url, self.token, protocol=protocol
            )
            await c.join(LOUNGE)
        return c


@pytest.fixture(scope="module")
def fuzzer(fuzz_dep: tuple[Deployment, str]) -> _Fuzzer:
    return _Fuzzer(*fuzz_dep)


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=_frames(), protocol=st.sampled_from([JSON, MSGPACK]))
async def test_fuzzed_frames_get_documented_answers(
    fuzzer: _Fuzzer, frame: dict[str, Any], protocol: str
) -> None:
    if time.monotonic() > fuzzer.deadline:
        return  # bounded in time: the examples left are skipped
    try:
        data = _pack(frame, protocol)
    except (OverflowError, TypeError, ValueError):
        return  # msgpack cannot carry it (an integer beyond 64 bits): nothing to send
    if len(data if isinstance(data, bytes) else data.encode()) > 60_000:
        return  # the frame-size limit has its own tests (test_bad_input.py)
    c = await fuzzer.client(protocol)
    frames, close = await _answers(c, data)
    fuzzer.sent += 1
    _check(frames, close, frame)


async def test_fuzzing_left_no_traceback_and_the_server_serves(fuzzer: _Fuzzer) -> None:
    assert fuzzer.sent >= 50, f"only {fuzzer.sent} fuzzed frames were sent"
    for c in fuzzer.clients.values():
        await c.close()
    c = await Client.connect(fuzzer.dep.gateways[0].ws_url, fuzzer.token)
    try:
        await c.join(NATIONAL)
        assert (await c.post(NATIONAL, "after the fuzz", cid="after-fuzz"))["type"] == "ack"
    finally:
        await c.close()
    _log_clean(fuzzer.dep)
