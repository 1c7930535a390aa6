"""A real WebSocket client for tests, on the project's own client (chat_server.client): the
handshake, the encodings and the reader are ``RoomSocket``'s, whose calls (``socket.send`` with
retries by cid, ``socket.join``) the fault tests use; on top, every frame received is kept, in
order, and tests wait for conditions on them with deadlines (never bare sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from chat_server.client import JSON, MSGPACK, RoomSocket
from support.procs import TIMEOUT_SCALE

__all__ = ["JSON", "MSGPACK", "Client"]


class Client:
    def __init__(self, socket: RoomSocket) -> None:
        self.socket = socket
        self.ws: ClientConnection = socket.ws
        self.protocol = socket.protocol
        self.frames: list[dict[str, Any]] = []
        # Replaced on every change: a waiter holds the one it saw, which is set once it is stale.
        self._changed = asyncio.Event()

    @property
    def close_code(self) -> int | None:
        return self.socket.close_code

    @property
    def close_reason(self) -> str:
        return self.socket.close_reason

    def _record(self, frame: dict[str, Any] | None) -> None:
        """RoomSocket's observer: each frame in order, then None once the socket is closed."""
        if frame is not None:
            self.frames.append(frame)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        token: str | None,
        protocol: str = MSGPACK,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Client:
        client: Client | None = None

        def record(frame: dict[str, Any] | None) -> None:
            assert client is not None  # frames are read on the loop, after the line below
            client._record(frame)

        socket = await RoomSocket.connect(ws_url, token, protocol, 10 * TIMEOUT_SCALE,
                                          origin=origin, headers=headers, observer=record)
        client = cls(socket)
        return client

    # -- sending ---------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send_frame(frame)

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    # -- waiting ---------------------------------------------------------------------

    async def wait_until(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout_s: float = 5.0, what: str = ""
    ) -> Any:
        """Wait until ``predicate(self.frames)`` is truthy; return its value."""
        deadline = timeout_s * TIMEOUT_SCALE

        async def check() -> Any:
            while True:
                changed = self._changed
                value = predicate(self.frames)
                if value:
                    return value
                if self.close_code is not None:
                    raise ConnectionError(
                        f"closed ({self.close_code} {self.close_reason}) while waiting for {what}"
                    )
                await changed.wait()

        try:
            return await asyncio.wait_for(check(), deadline)
        except TimeoutError:
            tail = self.frames[-5:]
            raise AssertionError(f"timed out after {deadline}s waiting for {what}; last frames {tail}") from None

    async def wait_frame(
        self, type_: str, timeout_s: float = 5.0, start: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first frame at index >= ``start`` of ``type_`` whose fields equal ``match``."""

        def find(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
            for frame in frames[start:]:
                if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return frame
            return None

        found: dict[str, Any] = await self.wait_until(find, timeout_s, f"{type_} {match}")
        return found

    async def wait_closed(self, timeout_s: float = 5.0) -> int:
        return await asyncio.wait_for(self.socket.wait_closed(), timeout_s * TIMEOUT_SCALE)

    # -- conveniences ----------------------------------------------------------------

    async def join(self, room: str, since: int | None = None, timeout_s: float = 5.0) -> dict[str, Any]:
        start = len(self.frames)
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        await self.send(frame)

        def answer(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
            for f in frames[start:]:
                if f.get("room") == room and f.get("type") == "joined":
                    return f
                if f.get("type") == "error":
                    raise AssertionError(f"join {room} refused: {f}")
            return None

        joined: dict[str, Any] = await self.wait_until(answer, timeout_s, f"joined {room}")
        return joined

    async def post(self, room: str, body: str, cid: str, timeout_s: float = 5.0, **extra: Any) -> dict[str, Any]:
        """Send and wait for the ack (or raise on an error frame for this cid)."""
        start = len(self.frames)
        await self.send({"type": "send", "room": room, "body": body, "cid": cid, **extra})

        def answer(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
            for f in frames[start:]:
                if f.get("cid") == cid and f.get("type") in ("ack", "error"):
                    return f
            return None

        result: dict[str, Any] = await self.wait_until(answer, timeout_s, f"ack for {cid}")
        return result

    def messages(self, room: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "message" and f.get("room") == room]

    def present_ids(self, room: str) -> set[str]:
        """Who this client believes is in ``room``: its last ``joined`` plus presence changes."""
        ids: set[str] = set()
        for f in self.frames:
            if f.get("room") != room:
                continue
            if f.get("type") == "joined":
                ids = {p["id"] for p in f["present"]}
            elif f.get("type") == "presence":
                ids.update(p["id"] for p in f["joined"])
                ids.difference_update(p["id"] for p in f["left"])
        return ids

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()
