"""The WebSocket half of the client: one connection, its rooms, and what it was sent.

A reader task takes every frame: answers (``joined``, ``ack``, ``moderated``, ``duty``,
``error``) resolve the call waiting for them; messages advance the room's ``last_seq`` (what
``resume`` joins from) and, with everything else, go to ``frames()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

MSGPACK = "kindred.v1.msgpack"
JSON = "kindred.v1.json"
Frame = dict[str, Any]


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
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self._ws = ws
        self.protocol = protocol
        self.rooms: dict[str, _Room] = {}
        self._by_cid: dict[str, _Waiting] = {}
        self._inbox: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read(), name="kindred-client-read")

    @classmethod
    async def connect(
        cls, ws_url: str, token: str, protocol: str = MSGPACK, open_timeout_s: float = 10.0
    ) -> RoomSocket:
        ws = await websockets.connect(
            ws_url, additional_headers={"Authorization": f"Bearer {token}"},
            subprotocols=[protocol],  # type: ignore[list-item]
            compression=None, max_size=2**22, open_timeout=open_timeout_s,
        )
        return cls(ws, protocol)

    async def close(self) -> None:
        await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    # -- frames in -------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                frame = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
                if isinstance(frame, dict):
                    self._take(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code if self._ws.close_code is not None else 1006
            gone = ConnectionError(f"connection closed ({self.close_code})")
            for waiting in self._by_cid.values():
                if not waiting.future.done():
                    waiting.future.set_exception(gone)
            for room in self.rooms.values():
                if room.waiting_join is not None and not room.waiting_join.done():
                    room.waiting_join.set_exception(gone)
            self._inbox.put_nowait(None)

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
        self._inbox.put_nowait(frame)

    async def frames(self) -> AsyncIterator[Frame]:
        """Every frame that is not the answer to a call, in order, until the socket closes."""
        while (frame := await self._inbox.get()) is not None:
            yield frame

    # -- calls -------------------------------------------------------------------------------

    async def _send(self, frame: Frame) -> None:
        await self._ws.send(msgpack.packb(frame) if self.protocol == MSGPACK else json.dumps(frame))

    async def _call(self, frame: Frame, answers: frozenset[str], timeout_s: float) -> Frame:
        cid = frame["cid"]
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._by_cid[cid] = _Waiting(future, answers)
        try:
            await self._send(frame)
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
        await self._send(frame)
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
        attempts: int = 5, ack_timeout_s: float = 5.0,
    ) -> Ack:
        """Post ``body``; resent with the same cid while unanswered or ``unavailable`` (a
        message is stored at most once per cid). Raises ``Refused`` for any other refusal,
        ``TimeoutError`` once ``attempts`` are used up."""
        cid = cid or os.urandom(8).hex()
        frame: Frame = {"type": "send", "room": room, "body": body, "cid": cid}
        if reply_to is not None:
            frame["reply_to"] = reply_to
        delay = 0.2
        for attempt in range(attempts):
            try:
                answer = await self._call(frame, frozenset({"ack"}), ack_timeout_s)
            except TimeoutError:
                if attempt == attempts - 1:
                    raise
                continue
            except Refused as refused:
                if refused.code != "unavailable" or attempt == attempts - 1:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            return Ack(room, cid, str(answer["id"]), int(answer["seq"]), bool(answer.get("duplicate")))
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
