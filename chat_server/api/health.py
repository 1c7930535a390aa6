"""Liveness and readiness probes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    rt = runtime(request)
    status = await rt.check_ready()
    if rt.hub.draining:
        status["gateway"] = "draining"
    ok = all(v == "ok" for v in status.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", **status}, 200 if ok else 503)
