"""The WebSocket half of the client: one connection, its rooms, and what it was sent.

A reader task takes every frame: answers (``joined``, ``ack``, ``moderated``, ``duty``,
``error``) resolve the call waiting for them; messages advance the room's ``last_seq`` (what
``resume`` joins from) and, with everything else, go to ``frames()``, or, when the socket was
opened with an ``observer``, every frame (answers included) goes to the observer instead: for
a caller that keeps its own log of what it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection

from chat_server.client.transport import JSON, MSGPACK, Frame, connect, decode, encode

__all__ = ["JSON", "MSGPACK", "Ack", "Frame", "Joined", "Refused", "RoomSocket"]

# Called with each frame received, in order, then with None once the socket is closed.
Observer = Callable[[Frame | None], None]
# Called before each resend of a ``send``: the cid and why ("unavailable" or "timeout").
OnRetry = Callable[[str, str], None]


class Refused(Exception):
    """The server answered an ``error`` frame: ``code`` (docs/protocol.md §6) and ``detail``."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('detail')}")
        self.code = str(frame.get("code"))
        self.detail = str(frame.get("detail", ""))
        self.frame = frame


@dataclass(frozen=True, slots=True)
class Joined:
    room: str
    seq: int  # the room's head when joined
    present: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class Ack:
    room: str
    cid: str
    id: str
    seq: int
    duplicate: bool
    frame: Frame = field(default_factory=dict, compare=False, repr=False)  # as the server sent it


@dataclass(slots=True)
class _Waiting:
    future: asyncio.Future[Frame]
    kinds: frozenset[str]


@dataclass(slots=True)
class _Room:
    last_seq: int = 0
    waiting_join: asyncio.Future[Frame] | None = None
    resuming: bool = False  # the join gave ``since``: the replay, not ``joined``, moves last_seq
    messages: list[Frame] = field(default_factory=list)


class RoomSocket:
    def __init__(self, ws: ClientConnection, protocol: str, observer: Observer | None = None) -> None:
        self.ws = ws
        self.protocol = protocol
        self.rooms: dict[str, _Room] = {}
        self._by_cid: dict[str, _Waiting] = {}
        self._observer = observer
        self._inbox: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason = ""
        self._reader = asyncio.create_task(self._read(), name="kindred-client-read")

    @classmethod
    async def connect(
        cls, ws_url: str, token: str | None, protocol: str = MSGPACK, open_timeout_s: float = 10.0,
        *, origin: str | None = None, headers: dict[str, str] | None = None,
        observer: Observer | None = None,
    ) -> RoomSocket:
        ws = await connect(ws_url, token, protocol, origin=origin, headers=headers,
                           open_timeout_s=open_timeout_s)
        return cls(ws, protocol, observer)

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def wait_closed(self) -> int:
        """Until the reader has seen the socket close; its close code."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._reader)
        return self.close_code if self.close_code is not None else 1006

    # -- frames in -------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                frame = decode(data)
                if isinstance(frame, dict):
                    if self._observer is not None:
                        self._observer(frame)
                    self._take(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.close_reason = self.ws.close_reason or ""
            gone = ConnectionError(f"connection closed ({self.close_code})")
            for waiting in self._by_cid.values():
                if not waiting.future.done():
                    waiting.future.set_exception(gone)
            for room in self.rooms.values():
                if room.waiting_join is not None and not room.waiting_join.done():
                    room.waiting_join.set_exception(gone)
            self._inbox.put_nowait(None)
            if self._observer is not None:
                self._observer(None)

    def _take(self, frame: Frame) -> None:
        kind, room_name, cid = frame.get("type"), frame.get("room"), frame.get("cid")
        room = self.rooms.get(room_name) if isinstance(room_name, str) else None
        if isinstance(cid, str) and cid in self._by_cid and kind in self._by_cid[cid].kinds | {"error"}:
            future = self._by_cid.pop(cid).future
            if not future.done():
                future.set_result(frame)
            return
        if room is not None and room.waiting_join is not None and kind in ("joined", "error"):
            if not room.waiting_join.done():
                room.waiting_join.set_result(frame)
            room.waiting_join = None
            if kind == "joined" and not room.resuming:
                room.last_seq = max(room.last_seq, int(frame["seq"]))
            return
        if room is not None and kind == "message":
            room.last_seq = max(room.last_seq, int(frame["seq"]))
            room.messages.append(frame)
        elif room is not None and kind == "gap":
            room.last_seq = max(room.last_seq, int(frame["to"]))
        if self._observer is None:  # an observer has every frame already: no second copy
            self._inbox.put_nowait(frame)

    async def frames(self) -> AsyncIterator[Frame]:
        """Every frame that is not the answer to a call, in order, until the socket closes."""
        while (frame := await self._inbox.get()) is not None:
            yield frame

    # -- calls -------------------------------------------------------------------------------

    async def send_frame(self, frame: Frame) -> None:
        """Send one frame as it is (no answer awaited): for frames this class has no call for."""
        await self.ws.send(encode(frame, self.protocol))

    async def _call(self, frame: Frame, answers: frozenset[str], timeout_s: float) -> Frame:
        cid = frame["cid"]
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._by_cid[cid] = _Waiting(future, answers)
        try:
            await self.send_frame(frame)
            answer = await asyncio.wait_for(asyncio.shield(future), timeout_s)
        finally:
            if self._by_cid.get(cid) is not None and self._by_cid[cid].future is future:
                del self._by_cid[cid]
        if answer.get("type") == "error":
            raise Refused(answer)
        return answer

    async def join(self, room: str, since: int | None = None, timeout_s: float = 10.0) -> Joined:
        """Join ``room`` (with ``since``: resume, the server sends what came after it)."""
        state = self.rooms.setdefault(room, _Room())
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        state.waiting_join, state.resuming = future, since is not None
        frame: Frame = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        await self.send_frame(frame)
        answer = await asyncio.wait_for(future, timeout_s)
        if answer.get("type") == "error":
            raise Refused(answer)
        return Joined(room, int(answer["seq"]), list(answer.get("present", [])))

    async def resume(self, room: str, timeout_s: float = 10.0) -> Joined:
        """Join again from the last seq this client saw in ``room`` (after a reconnect, on a
        new ``RoomSocket``, pass ``since`` to ``join`` yourself)."""
        return await self.join(room, self.rooms.get(room, _Room()).last_seq, timeout_s)

    async def send(
        self, room: str, body: str, cid: str | None = None, reply_to: str | None = None,
        attempts: int = 5, ack_timeout_s: float = 5.0, retry_pace_s: float = 0.2,
        on_retry: OnRetry | None = None,
    ) -> Ack:
        """Post ``body``; resent with the same cid while unanswered or ``unavailable`` (a
        message is stored at most once per cid), ``retry_pace_s`` after the first refusal and
        twice as long after each next (at most 5 s). Raises ``Refused`` for any other refusal,
        ``TimeoutError`` once ``attempts`` are used up, ``ConnectionError`` (or websockets'
        ``ConnectionClosed``) when the socket closes: resend the same cid on a new one."""
        cid = cid or os.urandom(8).hex()
        frame: Frame = {"type": "send", "room": room, "body": body, "cid": cid}
        if reply_to is not None:
            frame["reply_to"] = reply_to
        delay = retry_pace_s
        for attempt in range(attempts):
            try:
                answer = await self._call(frame, frozenset({"ack"}), ack_timeout_s)
            except TimeoutError:
                if attempt == attempts - 1:
                    raise
                if on_retry is not None:
                    on_retry(cid, "timeout")
                continue
            except Refused as refused:
                if refused.code != "unavailable" or attempt == attempts - 1:
                    raise
                if on_retry is not None:
                    on_retry(cid, "unavailable")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            return Ack(room, cid, str(answer["id"]), int(answer["seq"]), bool(answer.get("duplicate")),
                       answer)
        raise TimeoutError("not acknowledged")

    async def moderate(
        self, room: str, action: str, user: str | None = None, message: str | None = None,
        duration_s: int | None = None, reason: str | None = None, timeout_s: float = 10.0,
    ) -> Frame:
        """Take a moderation action; the ``moderated`` answer. Raises ``Refused``."""
        frame: Frame = {"type": "moderate", "room": room, "action": action,
                        "cid": os.urandom(8).hex()}
        for key, value in (("user", user), ("message", message), ("duration_s", duration_s),
                           ("reason", reason)):
            if value is not None:
                frame[key] = value
        return await self._call(frame, frozenset({"moderated"}), timeout_s)
