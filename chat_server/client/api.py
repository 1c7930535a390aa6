"""The HTTP half of the client (needs ``httpx``): sign in, history, moderation, reports.

Every call raises ``ApiRefused`` with the server's ``error`` code and ``detail`` for a 4xx or
5xx answer (docs/protocol.md §9); the document of every route is ``GET /api/openapi.json``.
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('error')}: {body.get('detail')}")
        self.status = status
        self.code = str(body.get("error"))
        self.body = body


KEEPALIVE_EXPIRY_S = 2.0


class Api:
    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.token = token
        # An idle connection is given up after 2 s, before the server's keep-alive closes it
        # (KINDRED_HTTP_KEEP_ALIVE_S, 5 s by default): with httpx's own 5 s the two raced, and
        # a request sent on a connection the server was closing was reset.
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s,
                                       limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = await self._http.request(method, path, headers=headers, **kwargs)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"error": "internal", "detail": r.text[:200]}
            raise ApiRefused(r.status_code, body if isinstance(body, dict) else {})
        return r.json() if r.content else None

    async def sign_in(self, email: str, password: str) -> str:
        """Open a session; the token is kept for the calls that follow, and returned."""
        answer = await self._call("POST", "/api/session", json={"email": email, "password": password})
        self.token = str(answer["token"])
        return self.token

    async def me(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/api/me"))

    async def history(self, room: str, before: int | None = None, limit: int = 50) -> dict[str, Any]:
        """A page of ``room``'s messages, newest first; ``next_before`` for the next page."""
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return dict(await self._call("GET", f"/api/rooms/{room}/messages", params=params))

    async def moderate(self, room: str, action: str, **fields: Any) -> dict[str, Any]:
        """As the ``moderate`` frame: ``user``, ``message``, ``duration_s``, ``reason``,
        ``platform``."""
        return dict(await self._call("POST", f"/api/rooms/{room}/moderation",
                                     json={"action": action, **fields}))

    async def report(self, message_id: str, reason: str) -> dict[str, Any]:
        return dict(await self._call("POST", f"/api/messages/{message_id}/report",
                                     json={"reason": reason}))
