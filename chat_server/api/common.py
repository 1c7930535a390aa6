"""Shared plumbing for the JSON API: error responses, bounded body parsing, the caller."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from chat_server.callers import Callers
from chat_server.security import token_from
from rooms.errors import RoomError
from rooms.model import Member

MAX_BODY_BYTES = 16 * 1024
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """Raised by a handler; turned into ``{"error": code, "detail": ...}`` with ``status``."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers
        self.extra = extra or {}  # more fields for the body (a forbidden's ``reason``)


def api_error(exc: RoomError) -> ApiError:
    """A refusal of the domain as the API answers it: its HTTP status and code, its fields
    (``retry_after_s``, ``until``, ``reason``) in the body, and ``Retry-After`` when it has one.
    The one map from the error tree (rooms/errors.py) to HTTP; the app's exception handler
    calls it for any ``RoomError`` a handler lets through."""
    extra = exc.fields()
    headers = None
    # A throttle's wait is in the body (``rate_limited``) or only in the header (an account
    # throttle's ``too_many_attempts``, whose body is ``{error, detail}``).
    retry = extra.get("retry_after_s", getattr(exc, "retry_after_s", None))
    if isinstance(retry, int | float):
        headers = {"Retry-After": str(max(1, math.ceil(retry)))}
    return ApiError(exc.http_status, exc.code_over_http, exc.detail, headers, extra)


def error_response(exc: ApiError) -> JSONResponse:
    body = {"error": exc.code, "detail": exc.detail, **exc.extra}
    return JSONResponse(body, exc.status, headers=exc.headers)


S = TypeVar("S")


def service(conn: HTTPConnection, name: str, kind: type[S]) -> S:
    """A service the composition root handed to the handlers (app.py's lifespan state), by
    name and type. Handlers never see the runtime (tests/test_architecture.py)."""
    found = getattr(conn.state, name)
    assert isinstance(found, kind), f"{name} is built in Runtime.open"
    return found


def _bearer(request: HTTPConnection) -> bool:
    return str(request.headers.get("authorization", "")).lower().startswith("bearer ")


def check_not_forged(request: Request) -> None:
    """Refuse a cross-site request that would change something (CSRF defence).

    Browsers send the session cookie by themselves, so an unsafe request without a bearer token
    must come from a page of this server: its ``Sec-Fetch-Site`` (when sent) must be
    ``same-origin`` and its ``Origin`` (when sent) must be this server's own origin or one of
    ``KINDRED_ALLOWED_ORIGINS``, as for the WebSocket handshake. A request carrying neither
    header comes from a non-browser client, which a forged page cannot be. The cookie is also
    ``SameSite=Strict``; this check does not depend on it. Bearer requests are exempt: a page
    cannot attach another site's token.
    """
    if request.method not in _UNSAFE_METHODS or _bearer(request):
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in _SAME_SITE_FETCH:
        raise ApiError(403, "cross_site", "requests from other sites are refused")
    origin = request.headers.get("origin")
    if origin is not None:
        origin = origin.rstrip("/")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own and origin not in service(request, "callers", Callers).allowed_origins:
            raise ApiError(403, "cross_site", "requests from other sites are refused")


async def parse_body(request: Request, model: type[M]) -> M:
    """Read at most 16 KiB of JSON and validate it; 413 or 400 with what was wrong.

    Without a bearer token the request must also pass ``check_not_forged`` and declare
    ``Content-Type: application/json`` (415 otherwise): an HTML form on another site can post
    ``text/plain`` that happens to be JSON, but cannot set that type without a CORS preflight,
    which this server never grants.
    """
    check_not_forged(request)
    if not _bearer(request):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send JSON with Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", "request body too large")
        chunks.append(chunk)
    try:
        return model.model_validate_json(b"".join(chunks))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(400, "invalid_request", problems) from None


async def caller(request: Request) -> tuple[Member, str]:
    """The signed-in member and their token; 401 otherwise (403 for a forged unsafe request)."""
    check_not_forged(request)
    token = token_from(request.headers, request.cookies)
    member = await service(request, "callers", Callers).member_for_token(token) if token else None
    if member is None or token is None:
        raise ApiError(401, "unauthenticated", "sign in first")
    return member, token


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
