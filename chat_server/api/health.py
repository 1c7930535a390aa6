"""Liveness and readiness probes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import runtime
from chat_server.keys import COMMITS_STREAM


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    rt = runtime(request)
    status = await rt.check_ready()
    if rt.hub.draining:
        status["gateway"] = "draining"
    ok = all(v == "ok" for v in status.values())
    body: dict[str, object] = {"status": "ready" if ok else "not_ready", **status}
    if rt.redis is not None and status.get("redis") == "ok":
        # Messages acknowledged but not yet in the database: informational, for alerting.
        body["transcript_backlog"] = int(await rt.redis.xlen(COMMITS_STREAM))
    return JSONResponse(body, 200 if ok else 503)
