"""Liveness and readiness probes (what readiness checks: chat_server/readiness.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import service
from chat_server.readiness import Readiness


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    ok, body = await service(request, "readiness", Readiness).report()
    return JSONResponse(body, 200 if ok else 503)
