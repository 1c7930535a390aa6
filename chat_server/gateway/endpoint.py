"""The ``/ws`` endpoint: handshake checks, then a reader and a writer per connection.

The handshake refuses, before accepting, a foreign ``Origin`` (403), a missing or expired
session (401) and a member over the connection cap (429). After that the reader parses each
frame into a typed value and hands it to the hub; only here do errors become frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketState

from chat_server import wire
from chat_server.gateway import direct, frames
from chat_server.gateway.connection import (
    CLOSE_LOST,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_RESTART,
    CLOSE_SLOW,
    Connection,
)
from chat_server.gateway.frame_rules import MAX_ROOM
from chat_server.private_talk import socket as talk_socket
from chat_server.private_talk.frames import TalkAccept, TalkAsk, TalkCancel
from chat_server.protocol.base import encode_for
from chat_server.protocol.rooms import Error, Pong
from chat_server.questions import socket as question_socket
from chat_server.questions.frames import Act, Ask, Vote
from chat_server.runtime import Runtime
from chat_server.security import token_digest, token_from
from chat_server.social import socket as social_socket
from chat_server.social.frames import React
from rooms.errors import RateLimited, RoomError
from rooms.ratelimit import Strikes

log = logging.getLogger(__name__)

CLOSE_FRAME_WAIT_S = 2.0
SLOW_CLOSE_FRAME_WAIT_S = 30.0


def _origin_allowed(ws: WebSocket, rt: Runtime) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser: authenticated by bearer token, CSRF does not apply
    origin = origin.rstrip("/")
    scheme = "https" if ws.url.scheme in ("wss", "https") else "http"
    own = f"{scheme}://{ws.headers.get('host', '')}"
    return origin == own or origin in rt.settings.allowed_origins


def _pick_protocol(ws: WebSocket) -> tuple[str, str | None] | None:
    """(protocol spoken, protocol to echo); None when the client offers only foreign ones."""
    offered: list[str] = list(ws.scope.get("subprotocols") or [])
    if not offered:
        return wire.MSGPACK, None
    for name in offered:
        if name in wire.SUBPROTOCOLS:
            return name, name
    return None


async def _deny(ws: WebSocket, status: int, code: str, detail: str) -> None:
    await ws.send_denial_response(JSONResponse({"error": code, "detail": detail}, status_code=status))


async def websocket_endpoint(ws: WebSocket) -> None:
    rt: Runtime = ws.state.runtime
    if rt.hub.draining:
        await _deny(ws, 503, "restarting", "the server is restarting; try again shortly")
        return
    if not _origin_allowed(ws, rt):
        await _deny(ws, 403, "forbidden_origin", "this origin may not open a connection")
        return
    protocol = _pick_protocol(ws)
    if protocol is None:
        await _deny(ws, 400, "bad_subprotocol", f"offer one of {', '.join(wire.SUBPROTOCOLS)}")
        return
    token = token_from(ws.headers, ws.cookies)
    digest = token_digest(token) if token else None  # once: the read and the connection's
    try:
        found = await rt.handshake(digest) if digest else None
    except Exception:
        log.exception("session lookup failed")
        await _deny(ws, 503, "unavailable", "try again shortly")
        return
    if found is None or digest is None:
        await _deny(ws, 401, "unauthenticated", "sign in first")
        return
    member = found.member
    conn = Connection(
        secrets.token_hex(8), member, digest, protocol[0], rt.settings.outbox_max_frames,
        direct.writer_for(ws.scope), rt.settings.write_stall_s,
    )
    conn.assigned, conn.hidden = found.assigned, found.hidden
    try:
        allowed = await rt.presence.open_connection(
            member.id, conn.id, rt.settings.max_connections_per_member, time.time()
        )
    except Exception:
        log.exception("connection count failed")
        await _deny(ws, 503, "unavailable", "try again shortly")
        return
    if not allowed:
        await _deny(ws, 429, "too_many_connections", "close another tab or device first")
        return
    try:
        await ws.accept(subprotocol=protocol[1])
        rt.hub.attach(conn)
        if rt.social is not None:
            await rt.social.delivery.connected(conn)  # notifications to this member's sockets
        if rt.talks is not None:
            rt.talks.desk.connected(conn)  # a private talk of theirs still waiting
        await _run(ws, conn, rt)
    finally:
        if rt.talks is not None:
            rt.talks.desk.disconnected(conn)
        if rt.social is not None:
            await rt.social.delivery.disconnected(conn)
        await rt.rooms.disconnected(conn)
        with contextlib.suppress(Exception):
            await rt.presence.close_connection(member.id, conn.id)
        if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
            # uvicorn writes the close frame only once the socket is writable again: a client
            # closed for reading too slowly gets its 1013 when it reads on, within a generous
            # bound; other closes (a restart among them) must not hold shutdown up that long.
            # A restart's 1012 may sit behind what the drain wrote into the socket's buffers: it
            # gets the drain's grace again, inside uvicorn's bound (that grace plus 5 s, serve.py).
            wait_s = {CLOSE_SLOW: SLOW_CLOSE_FRAME_WAIT_S, CLOSE_RESTART: rt.settings.shutdown_grace_s}.get(
                conn.close_code or CLOSE_NORMAL, CLOSE_FRAME_WAIT_S
            )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(conn.close_code or CLOSE_NORMAL, conn.close_reason), wait_s)


async def _run(ws: WebSocket, conn: Connection, rt: Runtime) -> None:
    async with asyncio.TaskGroup() as tg:
        reader = tg.create_task(_read(ws, conn, rt), name=f"ws-read-{conn.id}")
        writer = tg.create_task(_write(ws, conn), name=f"ws-write-{conn.id}")
        await conn.closed.wait()
        reader.cancel()
        # The writer stops by itself once closed; give it a moment to finish a send.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer), 1)
        writer.cancel()


async def _write(ws: WebSocket, conn: Connection) -> None:
    try:
        while (batch := await conn.next_frames()) is not None:
            for data in batch:
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
                conn.wrote()  # progress: a replay waiting for room (push_owed) waits on
    except asyncio.CancelledError:
        raise
    except Exception:  # the client went away mid-send; whatever the transport raised
        conn.close(CLOSE_LOST, "connection lost")


async def _read(ws: WebSocket, conn: Connection, rt: Runtime) -> None:
    strikes = Strikes(rt.settings.strikes_before_close)
    while True:
        try:
            message = await ws.receive()
        except asyncio.CancelledError:
            raise
        except Exception:
            conn.close(CLOSE_LOST, "connection lost")
            return
        if message["type"] == "websocket.disconnect":
            conn.close(int(message.get("code") or CLOSE_NORMAL), "client closed")
            return
        data: bytes | str | None = message.get("bytes")
        if data is None:
            data = message.get("text") or ""
        raw: dict[str, Any] = {}
        try:
            fast = frames.read_fast(data, conn.protocol, rt.settings.max_body_chars)
            if fast is not None:
                parsed, raw = fast
            else:  # refused (or unusual): the long way names the reason
                raw = wire.decode(data, conn.protocol)
                parsed = frames.parse(raw, rt.settings.max_body_chars)
            await _dispatch(parsed, conn, rt)
            strikes.clear()
        except RoomError as exc:
            frame = _error_frame(exc.code, exc.detail, raw, exc.fields())
            conn.push(encode_for(conn.protocol, frame))
            if isinstance(exc, RateLimited):
                struck_out = strikes.rate_limited(time.monotonic(), exc.retry_after_s)
            else:
                struck_out = exc.strikes and strikes.strike()
            if struck_out:
                conn.close_after_flush(CLOSE_POLICY, "too many refused frames")
                return
        except Exception:
            # A bug of ours must not take the connection down with it; the client is told.
            log.exception("frame handling failed")
            detail = "something went wrong on our side; try again"
            conn.push(encode_for(conn.protocol, _error_frame("internal", detail, raw)))


def _error_frame(
    code: str, detail: str, raw: dict[str, Any], extra: dict[str, Any] | None = None,
) -> Error:
    """An error frame, echoing the frame's cid and room when it had usable ones, so a client
    can tell which request failed."""
    cid = frames.cid_of(raw)
    room = raw.get("room")
    # Only what can be encoded is echoed (wire.decode refuses the rest; this keeps an error
    # frame from ever failing to encode, which would drop it and close the socket).
    return Error(
        code, detail if wire.is_encodable(detail) else "",
        cid if cid is not None and wire.is_encodable(cid) else None,
        room if isinstance(room, str) and len(room) <= MAX_ROOM and wire.is_encodable(room) else None,
        extra or None,
    )


async def _dispatch(frame: frames.ClientFrame, conn: Connection, rt: Runtime) -> None:
    rooms = rt.rooms
    match frame:
        case frames.Send(room, body, cid, reply_to, confirm_phi):
            await rooms.send(conn, room, body, cid, reply_to, confirm_phi)
        case frames.Typing(room):
            await rooms.typing(conn, room)
        case frames.Ping():
            conn.push(encode_for(conn.protocol, Pong()))
        case frames.Members(room, after):
            await rooms.members(conn, room, after)
        case frames.Join(room, since):
            await rooms.join(conn, room, since)
        case frames.Leave(room):
            await rooms.leave(conn, room)
        case frames.Moderate(room, command, cid):
            await rooms.moderate(conn, room, command, cid)
        case frames.Duty(on):
            await rooms.duty(conn, on)
            if rt.talks is not None:
                rt.talks.desk.duty_changed(conn)  # the private-talk queue, or no more of it
        case Ask() | Vote() | Act():
            assert rt.questions is not None, "questions are wired in Runtime.open"
            await question_socket.handle(frame, conn, rt.questions.questions)
        case React():
            assert rt.social is not None, "social is wired in Runtime.open"
            await social_socket.handle(frame, conn, rt.social.reactions)
        case TalkAsk() | TalkCancel() | TalkAccept():
            assert rt.talks is not None, "private talks are wired in Runtime.open"
            await talk_socket.handle(frame, conn, rt.talks.talks, rt.talks.desk)
