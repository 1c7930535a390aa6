"""Changing a password, and resetting a forgotten one with a one-time code (issued by the
operator's CLI or by an organization admin): the new password works, the old one does not,
codes work once, and the member's other sessions end on every gateway."""

from __future__ import annotations

import re

import httpx
import pytest

from support.client import Client
from support.cluster import ORG_B, PASSWORD, Deployment, Member
from support.http import TLS

NEW_PASSWORD = "a brand new long password"


def _http(dep: Deployment, gateway: int, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(verify=TLS, base_url=dep.gateways[gateway % len(dep.gateways)].http_url, headers=headers, timeout=30)


def _sign_in(dep: Deployment, m: Member, password: str, gateway: int = 0) -> int:
    with _http(dep, gateway) as h:
        return h.post("/api/session", json={"email": m.email, "password": password}).status_code


def _second_session(dep: Deployment, m: Member, password: str = PASSWORD) -> str:
    with _http(dep, 1) as h:
        r = h.post("/api/session", json={"email": m.email, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token


async def test_change_password_ends_the_other_sessions(deployment: Deployment) -> None:
    dep = deployment
    m = dep.register()
    other = _second_session(dep, m)
    ws = await Client.connect(dep.gateways[-1].ws_url, other)
    try:
        await ws.join("caregivers")
        with _http(dep, 0, m.token) as h:
            wrong = h.post("/api/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD})
            assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
            short = h.post("/api/password", json={"current_password": PASSWORD, "new_password": "short"})
            assert short.status_code == 400
            assert _sign_in(dep, m, PASSWORD) == 200  # nothing changed so far
            ok = h.post("/api/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
            assert ok.status_code == 204, ok.text
            assert h.get("/api/me").status_code == 200  # this session goes on
        assert await ws.wait_closed(5) == 4001  # the other one ends, on its own gateway
        with _http(dep, 1, other) as h:
            assert h.get("/api/me").status_code == 401
        assert _sign_in(dep, m, PASSWORD) == 401
        assert _sign_in(dep, m, NEW_PASSWORD, gateway=1) == 200
    finally:
        await ws.close()


def _code(output: str) -> str:
    found = re.search(r"reset code for \S+: (\S+)", output)
    assert found, output
    return found.group(1)


def test_reset_with_a_code_from_the_operator(deployment: Deployment) -> None:
    dep = deployment
    m = dep.register()
    old_code = _code(dep.cli("user", "reset-password", m.handle))
    code = _code(dep.cli("user", "reset-password", m.handle))  # voids the first
    with _http(dep, 0) as h:
        def reset(email: str, c: str) -> httpx.Response:
            return h.post("/api/password/reset", json={"email": email, "code": c, "new_password": NEW_PASSWORD})

        assert reset(m.email, old_code).status_code == 403
        assert reset("someone.else@example.org", code).status_code == 403
        assert reset(m.email, "maple-river-dawn-finch-42").status_code == 403
        assert _sign_in(dep, m, PASSWORD) == 200  # refusals changed nothing
        # Codes are typed from paper: case and spacing do not matter.
        assert reset(m.email.upper(), code.upper().replace("-", " ")).status_code == 204
        assert reset(m.email, code).status_code == 403  # once only
    with _http(dep, 1, m.token) as h:
        assert h.get("/api/me").status_code == 401  # every session ended
    assert _sign_in(dep, m, PASSWORD) == 401
    assert _sign_in(dep, m, NEW_PASSWORD, gateway=1) == 200


def test_org_admins_issue_codes_for_their_own_members_only(deployment: Deployment) -> None:
    dep = deployment
    admin = dep.register()
    dep.cli("user", "role", admin.handle, "org_admin")
    member, outsider, peer = dep.register(), dep.register(org=ORG_B), dep.register()
    dep.cli("user", "role", peer.handle, "org_admin")
    with _http(dep, 0, member.token) as h:
        assert h.post(f"/api/users/{admin.id}/reset-code").status_code == 403  # members may not
    with _http(dep, 0, admin.token) as h:
        assert h.post(f"/api/users/{outsider.id}/reset-code").status_code == 404
        assert h.post(f"/api/users/{peer.id}/reset-code").status_code == 403  # equal rank
        assert h.post("/api/users/nobody/reset-code").status_code == 404
        r = h.post(f"/api/users/{member.id}/reset-code")
        assert r.status_code == 201, r.text
        code = r.json()["code"]
    with _http(dep, 1) as h:
        r = h.post("/api/password/reset", json={"email": member.email, "code": code, "new_password": NEW_PASSWORD})
        assert r.status_code == 204, r.text
    assert _sign_in(dep, member, NEW_PASSWORD) == 200


@pytest.mark.parametrize("body", [
    {}, {"email": "a@b.c"}, {"email": "a@b.c", "code": "x", "new_password": "short"},
    {"email": "a@b.c", "code": "x", "new_password": NEW_PASSWORD, "extra": 1},
])
def test_malformed_resets(embedded: Deployment, body: dict[str, object]) -> None:
    with _http(embedded, 0) as h:
        assert h.post("/api/password/reset", json=body).status_code == 400
