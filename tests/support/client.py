"""A real WebSocket client for tests: every frame received is kept, in order, and tests wait
for conditions on them with deadlines (never bare sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

from support.procs import TIMEOUT_SCALE

MSGPACK = "kindred.v1.msgpack"
JSON = "kindred.v1.json"


class Client:
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        token: str | None,
        protocol: str = MSGPACK,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Client:
        extra = dict(headers or {})
        if token is not None:
            extra["Authorization"] = f"Bearer {token}"
        ws = await websockets.connect(
            ws_url,
            additional_headers=extra,
            subprotocols=[protocol],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            compression=None,
            max_size=2**22,
            open_timeout=10 * TIMEOUT_SCALE,
        )
        return cls(ws, protocol)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                if isinstance(data, bytes):
                    frame = msgpack.unpackb(data, raw=False)
                else:
                    frame = json.loads(data)
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.close_reason = self.ws.close_reason or ""
            async with self._changed:
                self._changed.notify_all()

    # -- sending ---------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        if self.protocol == MSGPACK:
            await self.ws.send(msgpack.packb(frame))
        else:
            await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    # -- waiting ---------------------------------------------------------------------

    async def wait_until(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout_s: float = 5.0, what: str = ""
    ) -> Any:
        """Wait until ``predicate(self.frames)`` is truthy; return its value."""
        deadline = timeout_s * TIMEOUT_SCALE

        async def check() -> Any:
            async with self._changed:
                while True:
                    value = predicate(self.frames)
                    if value:
                        return value
                    if self.close_code is not None:
                        raise ConnectionError(
                            f"closed ({self.close_code} {self.close_reason}) while waiting for {what}"
                        )
                    await self._changed.wait()

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
        async def closed() -> int:
            async with self._changed:
                while self.close_code is None:
                    await self._changed.wait()
                return self.close_code

        return await asyncio.wait_for(closed(), timeout_s * TIMEOUT_SCALE)

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
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
