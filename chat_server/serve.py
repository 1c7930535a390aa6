"""Running the app under uvicorn, with a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import signal
import socket
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from chat_server.app import create_app
from chat_server.config import Settings
from chat_server.gateway.direct import DirectWebSocketProtocol
from chat_server.gateway.http_upgrade import UpgradingHttpProtocol
from chat_server.gateway.lane import WebSocketLane

# The cyclic collector's young-generation threshold (CPython's default: 700). The young
# generation's count is tracked objects allocated minus those freed, so net growth triggers a
# collection: a gateway taking on connections (each a few hundred objects that live as long
# as its socket) collected every couple of connections, re-scanned the middle generation every
# ten and, as they piled up, ran full collections of everything not frozen. At 20,000,
# connecting 2,000 members ran 22 young collections and 1 middle one instead of 817, 74 and 6
# full ones, for about 30 % less CPU (bench/notes.md, issue 18). Each collection still scans
# only the young objects alive then; the older generations keep their ratios. Messages leave
# little behind, so small rooms hardly change (about 1 % of a gateway's CPU was collection).
GC_YOUNG_THRESHOLD = 20_000
# The middle generation is collected after this many young collections (CPython's default:
# 10). It holds what survived them, so at 20,000 a young collection it could pile up ~200,000
# objects (1,000 sockets' worth) and one middle collection then held the loop 50-60 ms, in a
# webinar's vote storm 5 runs in 6 and once in make bench's webinar (the longest stall). At 3
# it holds at most three young collections' survivors: longest middle collection over
# idle + storm + webinar 58 -> 37 ms, none inside a vote storm (bench/notes.md, issue 18).
GC_MIDDLE_THRESHOLD = 3


def settle_heap() -> None:
    """Once the app is built: freeze what lives as long as the process, collect the young
    generation less often and the middle one in smaller pieces."""
    # Everything built so far (modules, the ORM's metadata, the catalog, the app) lives
    # as long as the process. Frozen, the collector stops re-scanning it: full
    # collections in a gateway holding 1,000 sockets paused the loop 50-100 ms before,
    # and every member's latency with it (bench, webinar).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, gc.get_threshold()[2])


class _GracefulServer(uvicorn.Server):
    """On the first SIGTERM or SIGINT every client is sent what it is owed and closed with
    1012 (service restart) before uvicorn stops; a second signal stops at once."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()
        # An operator (or a test whose gateway will not stop) can ask what every task is
        # waiting on: `kill -USR1 <pid>` logs their stacks (no message bodies: code lines only).
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _log_tasks)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        runtime = getattr(self._app.state, "runtime", None)
        try:
            if runtime is not None:
                await runtime.drain()
        finally:
            self.should_exit = True


def _log_tasks() -> None:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=12, file=out)
    logging.getLogger(__name__).warning("tasks on SIGUSR1:\n%s", out.getvalue())


# Libraries that would log the data passing through them below WARNING (aiosqlite logs every
# statement with its parameters at DEBUG; SQLAlchemy every statement at INFO; the others their
# frames and commands).
_CARRIERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "websockets", "redis", "msgpack")


class _PrivateLogs(logging.Filter):
    """uvicorn logs each WebSocket handshake with the client's address at INFO, and an error
    for every handshake we refuse with an HTTP response (which is our intent, not a fault).
    Client addresses are personal data and the refusals are answered already: drop both. At
    DEBUG, the protocol's trace of headers and frames: dropped too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.levelno <= logging.DEBUG and message.startswith(("< ", "> ", "= ")):
            # The WebSocket protocol's trace (it logs through uvicorn's logger): handshake
            # headers with bearer tokens and cookies, and the bytes of frames (bodies).
            return False
        if message.startswith("Invalid UTF-8 sequence received from client"):
            # The client is told (close 1007); one line, not a traceback it can write at will.
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return record.levelno >= logging.getLogger().getEffectiveLevel()
        if message.startswith("ASGI callable returned without completing handshake"):
            return False
        if '"WebSocket ' in message or "connection open" in message or "connection closed" in message:
            return False
        return not (record.args and isinstance(record.args, tuple) and any(
            isinstance(a, str) and a.startswith("WebSocket ") for a in record.args
        ))


def uvicorn_config(settings: Settings, app: Starlette) -> uvicorn.Config:
    """How uvicorn serves the gateway (tests serve an app of their own with it)."""
    loop = settings.event_loop
    if loop == "auto":
        try:
            import uvloop  # noqa: F401

            loop = "uvloop"
        except ImportError:
            loop = "asyncio"
    return uvicorn.Config(
        # A WebSocket to /ws straight to its endpoint, the rest through Starlette
        # (gateway/lane.py).
        WebSocketLane(app),
        host=settings.host,
        port=settings.port,
        loop=loop,
        # httptools' protocol, freed at the upgrade rather than by the cyclic collector
        # (gateway/http_upgrade.py).
        http=UpgradingHttpProtocol,
        # KINDRED_WS_IMPL: "direct" by default (uvicorn's sans-I/O websockets protocol plus a
        # synchronous fan-out write, gateway/direct.py), or one of uvicorn's own; see
        # docs/performance.md.
        ws=DirectWebSocketProtocol if settings.ws_impl == "direct" else settings.ws_impl,
        ws_max_size=settings.max_frame_bytes,
        # The client address the throttles count by: the peer's, or from a trusted proxy the
        # rightmost X-Forwarded-For entry that is not itself a trusted proxy.
        forwarded_allow_ips=settings.trusted_proxies,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_interval_s,
        timeout_keep_alive=settings.http_keep_alive_s,  # type: ignore[arg-type]  # int in its hints, a float works
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,  # client addresses are personal data; nothing here needs them
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
    )


def serve(settings: Settings) -> None:
    app = create_app(settings)
    config = uvicorn_config(settings, app)
    logging.getLogger().setLevel(settings.log_level.upper())
    for name in ("uvicorn.error", "uvicorn"):
        logging.getLogger(name).addFilter(_PrivateLogs())
    for name in _CARRIERS:
        # What these log below WARNING is what they carry: statements with their parameters
        # (message bodies, private ones included), frames. Never, whatever the level asked.
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    _GracefulServer(config, app).run()
