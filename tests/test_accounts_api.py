"""The HTTP API end to end: registration, key phrases, sessions, sign-out, the community
directory, privacy of what other members see, health probes and security headers.

Most tests run in both modes (``deployment``); in Redis mode requests go to different
gateways so that what one gateway did is seen by the others. Rate limits are tested on a
separate embedded gateway with small limits.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from support.client import JSON, Client
from support.cluster import ORG_A, ORG_B, PASSWORD, Deployment, Member
from support.http import TLS

ORG_A_LOCAL = {f"riverside-cancer-center-{s}" for s in ("lounge", "support-group", "caregivers-circle")}
ORG_B_LOCAL = {f"hillcrest-oncology-{s}" for s in ("lounge", "support-group", "caregivers-circle")}
COOKIE = "kindred_session"

# Letters only, without a/o/x: never a phone number, never a mail word ("aol", "gmx", ...).
_HANDLE_LETTERS = "bcdefhijklmnpqrstuvwyz"


def new_handle(prefix: str = "kt", n: int = 10) -> str:
    return prefix + "".join(secrets.choice(_HANDLE_LETTERS) for _ in range(n))


def register(dep: Deployment, org: tuple[str, str] = ORG_A, gateway: int = 0) -> Member:
    """Register and sign in a new member on ``gateway`` (wrapping around)."""
    return dep.register(org=org, gateway=gateway % len(dep.gateways))


def http(dep: Deployment, i: int = 0) -> httpx.Client:
    return httpx.Client(verify=TLS, base_url=dep.gateways[i % len(dep.gateways)].http_url, timeout=30)


def ahttp(dep: Deployment, i: int = 0) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=TLS, base_url=dep.gateways[i % len(dep.gateways)].http_url, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signup(handle: str, email: str | None = None, phrase: str = ORG_A[1], **extra: Any) -> dict[str, Any]:
    return {
        "key_phrase": phrase,
        "handle": handle,
        "email": email or f"{handle.lower()}@example.org",
        "password": PASSWORD,
        **extra,
    }


def error_of(r: httpx.Response) -> str:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    return str(body["error"])


def can_sign_in(c: httpx.Client, email: str, password: str = PASSWORD) -> bool:
    r = c.post("/api/session", json={"email": email, "password": password})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


Conn = Client


async def ping(c: Client) -> None:
    start = len(c.frames)
    await c.send({"type": "ping"})
    await c.wait_frame("pong", start=start)


# --------------------------------------------------------------------------- register


def test_register_answers_without_a_profile_and_sign_in_gives_it(deployment: Deployment) -> None:
    handle = new_handle("Kt")  # mixed case is kept as typed
    body = signup(handle)
    with http(deployment) as c:
        r = c.post("/api/register", json=body)
        assert r.status_code == 202, r.text
        # The same answer a taken email gets (test_registration_privacy.py): no profile.
        assert set(r.json()) == {"status", "organization", "detail"}, r.text
        assert r.json()["organization"] == ORG_A[0]
        assert body["email"] not in r.text and PASSWORD not in r.text
    with http(deployment, 1) as c:  # another gateway in Redis mode
        r = c.post("/api/session", json={"email": body["email"], "password": PASSWORD})
        assert r.status_code == 200, r.text
        profile = r.json()["user"]
        assert set(profile) == {"id", "handle", "role"}
        assert profile["handle"] == handle and profile["role"] == "member"
        assert isinstance(profile["id"], str) and profile["id"]
        assert "email" not in r.text and body["email"] not in r.text


HANDLE_REJECTED = [
    "ab",  # too short
    "  ab  ",  # too short once trimmed
    "a" * 33,  # too long
    "jane@example.org",  # email-like
    "jane.gmail.com",
    "jane.example.org",
    "555 123 4567",  # phone-like
    "5551234567",
    "tel555-123-4567",
    "admin",  # reserved, in any case
    "Admin",
    "SUPPORT",
    "-dash-first",  # must start with a letter or digit
    "has space",
    "emoji\u2764",
]


def test_handle_rules(deployment: Deployment) -> None:
    with http(deployment) as c:
        for handle in HANDLE_REJECTED:
            email = f"{new_handle()}@example.org"
            r = c.post("/api/register", json=signup(handle, email))
            assert r.status_code == 400, (handle, r.text)
            assert error_of(r) == "invalid_handle", (handle, r.text)
            assert not can_sign_in(c, email), handle
        # The limits are inclusive: 3 and 32 characters are fine.
        for handle in (new_handle("k", 2), new_handle("k", 31)):
            r = c.post("/api/register", json=signup(handle))
            assert r.status_code == 202, (handle, r.text)


def test_duplicates_are_refused(deployment: Deployment) -> None:
    handle = new_handle()
    email = f"{handle}@example.org"
    with http(deployment) as c:
        first = c.post("/api/register", json=signup(handle, email))
        assert first.status_code == 202, first.text
    with http(deployment, 1) as c:  # another gateway in Redis mode: the database decides
        for dup in (handle.upper(), handle.capitalize(), f"  {handle}  "):
            r = c.post("/api/register", json=signup(dup, f"{new_handle()}@example.org"))
            assert r.status_code == 409, (dup, r.text)
            assert error_of(r) == "handle_taken"
        for dup_email in (email, email.upper(), f"  {email} "):
            other = {**signup(new_handle(), dup_email), "password": "another password 123"}
            r = c.post("/api/register", json=other)
            # Not told apart from a new email (issue 13): the same answer, nothing created.
            assert (r.status_code, r.json()) == (202, first.json()), (dup_email, r.text)
            assert email not in r.text
        # The account is unchanged: the first password works, the would-be duplicate's not.
        assert can_sign_in(c, email)
        assert not can_sign_in(c, email, "another password 123")


def test_malformed_registrations(deployment: Deployment) -> None:
    with http(deployment) as c:

        def refused(status: int, code: str, **kw: Any) -> None:
            r = c.post("/api/register", **kw)
            assert r.status_code == status, (kw.keys(), r.text)
            assert error_of(r) == code

        h = new_handle()
        refused(400, "invalid_request", json={**signup(h), "password": "123456789"})  # 9 chars
        refused(400, "invalid_request", json={**signup(h), "is_admin": True})
        refused(400, "invalid_request", json={**signup(h), "role": "admin"})
        refused(400, "invalid_request", json={k: v for k, v in signup(h).items() if k != "email"})
        refused(400, "invalid_request", json=[signup(h)])
        refused(400, "invalid_request", content=b"{not json", headers={"Content-Type": "application/json"})
        refused(400, "invalid_request", content=b"", headers={"Content-Type": "application/json"})
        refused(400, "invalid_email", json=signup(h, "not-an-email"))
        refused(400, "invalid_email", json=signup(h, "jane@localhost"))
        big = {**signup(h), "pad": "x" * (16 * 1024)}
        refused(413, "too_large", content=json.dumps(big).encode(), headers={"Content-Type": "application/json"})

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
            yield json.dumps(signup(h))[:-1].encode()
            for _ in range(20):
                yield b', "p": "' + b"y" * 1000 + b'"'
            yield b"}"

        refused(413, "too_large", content=chunks(), headers={"Content-Type": "application/json"})
        # None of that created the account; the well-formed request does.
        assert not can_sign_in(c, f"{h}@example.org")
        assert c.post("/api/register", json=signup(h)).status_code == 202
        # A password of exactly 10 characters is accepted.
        h2 = new_handle()
        r = c.post("/api/register", json={**signup(h2), "password": "0123456789"})
        assert r.status_code == 202, r.text
        assert can_sign_in(c, f"{h2}@example.org", "0123456789")


def test_control_characters_in_email_are_refused(deployment: Deployment) -> None:
    with http(deployment) as c:
        for email in (f"{new_handle()}\x00@example.org", f"{new_handle()}\n@example.org"):
            r = c.post("/api/register", json=signup(new_handle(), email))
            assert r.status_code == 400, (email, r.status_code, r.text)
            assert error_of(r) == "invalid_email"


def _nul_lookups(dep: Deployment) -> None:
    """NUL bytes in what the server looks up get the ordinary answers, not a crash."""
    m = register(dep)
    with http(dep) as c:
        r = c.post("/api/session", json={"email": "nobody\x00@example.org", "password": PASSWORD})
        assert r.status_code == 401, r.text
        assert error_of(r) == "invalid_credentials"
        r = c.get("/api/communities/breast-cancer%00", headers=bearer(m.token))
        assert r.status_code == 404, r.text
        assert r.json() == {"error": "not_found", "detail": "no such community"}


def test_nul_in_lookups_embedded(embedded: Deployment) -> None:
    _nul_lookups(embedded)


def test_nul_in_lookups_redis(redis_cluster: Deployment) -> None:
    _nul_lookups(redis_cluster)


# --------------------------------------------------------------------------- key phrases


def test_key_phrases(deployment: Deployment) -> None:
    with http(deployment) as c:
        h = new_handle()
        for wrong in ("riverside lantern maple 12", "hillcrest lantern maple 11", "x"):
            r = c.post("/api/register", json=signup(h, phrase=wrong))
            assert r.status_code == 403, r.text
            assert error_of(r) == "invalid_key_phrase"
        assert not can_sign_in(c, f"{h}@example.org")
        # Case, spacing and hyphens do not matter.
        r = c.post("/api/register", json=signup(h, phrase="  RIVERSIDE   lantern maple 11 "))
        assert r.status_code == 202, r.text
        assert r.json()["organization"] == ORG_A[0]
        r = c.post("/api/register", json=signup(new_handle(), phrase="Riverside-Lantern-Maple-11"))
        assert r.status_code == 202 and r.json()["organization"] == ORG_A[0], r.text
        # The phrase decides the organization.
        r = c.post("/api/register", json=signup(new_handle(), phrase=ORG_B[1].upper()))
        assert r.status_code == 202 and r.json()["organization"] == ORG_B[0], r.text


@pytest.fixture(scope="module")
def throttled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, Member, Member]]:
    """One embedded gateway allowing 3 wrong key phrases and 3 failed sign-ins per window,
    with two members registered before any attempt (registering is blocked later on)."""
    env = {"KINDRED_KEY_PHRASE_ATTEMPTS": "3", "KINDRED_LOGIN_ATTEMPTS": "3"}
    dep = Deployment.start(tmp_path_factory.mktemp("throttled"), count=1, extra_env=env)
    yield dep, register(dep), register(dep)
    dep.stop()


def test_wrong_key_phrases_are_rate_limited(throttled: tuple[Deployment, Member, Member]) -> None:
    dep, _, _ = throttled
    with http(dep) as c:
        for _ in range(2):
            r = c.post("/api/register", json=signup(new_handle(), phrase="guess one two"))
            assert r.status_code == 403, r.text
        # Under the limit the right phrase still works: only wrong phrases are counted.
        assert c.post("/api/register", json=signup(new_handle())).status_code == 202
        r = c.post("/api/register", json=signup(new_handle(), phrase="guess three"))
        assert r.status_code == 403, r.text
        # Three wrong: now even the right phrase is refused, with a Retry-After.
        h = new_handle()
        for body in (signup(h), signup(h, phrase="  RIVERSIDE lantern maple 11"), signup(new_handle(), phrase="x")):
            r = c.post("/api/register", json=body)
            assert r.status_code == 429, r.text
            assert error_of(r) == "too_many_attempts"
            assert r.headers["Retry-After"] == "900"
        assert not can_sign_in(c, f"{h}@example.org")


def test_failed_sign_ins_are_rate_limited(throttled: tuple[Deployment, Member, Member]) -> None:
    dep, member, other = throttled
    with http(dep) as c:
        for _ in range(3):
            r = c.post("/api/session", json={"email": member.email, "password": "wrong password!"})
            assert r.status_code == 401, r.text
        r = c.post("/api/session", json={"email": member.email, "password": PASSWORD})
        assert r.status_code == 429, r.text
        assert error_of(r) == "too_many_attempts"
        assert r.headers["Retry-After"].isdigit()
        assert "set-cookie" not in r.headers
        # The limit is per email: another member signs in as usual.
        r = c.post("/api/session", json={"email": other.email, "password": PASSWORD})
        assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- sessions


def _cookie_attributes(r: httpx.Response) -> tuple[str, set[str]]:
    cookies = [v for v in r.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}=")]
    assert len(cookies) == 1, r.headers.get_list("set-cookie")
    first, *attrs = (p.strip() for p in cookies[0].split(";"))
    return first, {a.lower() for a in attrs}


def test_session_token_and_cookie(deployment: Deployment) -> None:
    m = register(deployment)
    with http(deployment) as c:
        r = c.post("/api/session", json={"email": f"  {m.email.upper()} ", "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"token", "user"}
        assert body["user"] == {"id": m.id, "handle": m.handle, "role": "member"}
        assert m.email not in r.text
        token = body["token"]
        assert isinstance(token, str) and len(token) >= 32 and token != m.token
        first, attrs = _cookie_attributes(r)
        assert first == f"{COOKIE}={token}"
        assert "httponly" in attrs
        assert "samesite=strict" in attrs
        assert "path=/" in attrs
    me = {"id": m.id, "handle": m.handle, "role": "member"}
    for i in range(len(deployment.gateways)):
        with http(deployment, i) as c:
            r = c.get("/api/me", headers=bearer(token))
            assert r.status_code == 200 and r.json() == me, r.text
            r = c.get("/api/me", headers={"Cookie": f"{COOKIE}={token}"})
            assert r.status_code == 200 and r.json() == me, r.text
            for headers in ({}, bearer("forged"), {"Cookie": f"{COOKIE}=forged"}, {"Authorization": token}):
                r = c.get("/api/me", headers=headers)
                assert r.status_code == 401, (headers, r.text)
                assert error_of(r) == "unauthenticated"


def test_bad_credentials_are_indistinguishable(deployment: Deployment) -> None:
    m = register(deployment)
    with http(deployment) as c:
        unknown = c.post("/api/session", json={"email": f"{new_handle()}@example.org", "password": PASSWORD})
        wrong = c.post("/api/session", json={"email": m.email, "password": PASSWORD + "!"})
        for r in (unknown, wrong):
            assert r.status_code == 401, r.text
            assert error_of(r) == "invalid_credentials"
            assert "set-cookie" not in r.headers
        assert unknown.content == wrong.content
        assert unknown.headers.get("content-type") == wrong.headers.get("content-type")


async def test_sign_out_closes_that_session_everywhere(deployment: Deployment) -> None:
    m = register(deployment)
    n = len(deployment.gateways)
    async with ahttp(deployment, 0) as c:
        r = await c.post("/api/session", json={"email": m.email, "password": PASSWORD})
        assert r.status_code == 200
        other_token = r.json()["token"]
    # Session 1 on every gateway (two sockets in embedded mode); session 2 on the last one.
    urls = [deployment.gateways[i].ws_url for i in range(n)] if n > 1 else [deployment.gateways[0].ws_url] * 2
    doomed = [
        await Conn.connect(url, m.token, protocol=JSON if i % 2 else "kindred.v1.msgpack")
        for i, url in enumerate(urls)
    ]
    survivor = await Conn.connect(deployment.gateways[-1].ws_url, other_token)
    try:
        for conn in [*doomed, survivor]:
            await conn.join("survivorship")
        async with ahttp(deployment, 0) as c:
            r = await c.delete("/api/session", headers=bearer(m.token))
            assert r.status_code == 204, r.text
            assert r.content == b""
            first, attrs = _cookie_attributes(r)
            assert first in (f"{COOKIE}=", f'{COOKIE}=""') and "max-age=0" in attrs
        for conn in doomed:
            assert await conn.wait_closed(2) == 4001
            assert conn.close_reason == "signed out"
        # The other session of the same member is untouched.
        await ping(survivor)
        assert survivor.close_code is None
        for i in range(n):
            async with ahttp(deployment, i) as c:
                r = await c.get("/api/me", headers=bearer(m.token))
                assert r.status_code == 401, r.text
                r = await c.delete("/api/session", headers=bearer(m.token))
                assert r.status_code == 401, r.text
                r = await c.get("/api/me", headers=bearer(other_token))
                assert r.status_code == 200, r.text
            with pytest.raises(InvalidStatus) as caught:
                again = await Conn.connect(deployment.gateways[i].ws_url, m.token)
                await again.close()
            assert caught.value.response.status_code == 401
        # Signing out with the cookie works the same way.
        async with ahttp(deployment, n - 1) as c:
            r = await c.delete("/api/session", headers={"Cookie": f"{COOKIE}={other_token}"})
            assert r.status_code == 204, r.text
        assert await survivor.wait_closed(2) == 4001
    finally:
        for conn in [*doomed, survivor]:
            await conn.close()


# --------------------------------------------------------------------------- communities


def test_community_directory(deployment: Deployment) -> None:
    a, b = register(deployment, ORG_A), register(deployment, ORG_B)
    with http(deployment) as c:
        r = c.get("/api/communities", headers=bearer(a.token))
        assert r.status_code == 200, r.text
        rooms = r.json()["communities"]
        slugs = [x["slug"] for x in rooms]
        assert len(slugs) == len(set(slugs))
        national = [x for x in rooms if x["scope"] == "national"]
        local = [x for x in rooms if x["scope"] != "national"]
        assert len(national) >= 60
        assert {x["kind"] for x in national} == {"cancer_type", "supportive_care"}
        assert all(set(x) == {"slug", "name", "kind", "scope", "description"} for x in national)
        assert {x["slug"] for x in local} == ORG_A_LOCAL
        for x in local:
            assert x["scope"] == "local" and x["kind"] == "local", x
            assert x["organization"] == ORG_A[0], x
        assert not ORG_B_LOCAL & set(slugs)
        assert ORG_B[0] not in r.text

        r = c.get("/api/communities", headers=bearer(b.token))
        assert {x["slug"] for x in r.json()["communities"] if x["scope"] == "local"} == ORG_B_LOCAL

        # Another organization's room does not exist, as far as the API says.
        foreign = c.get("/api/communities/hillcrest-oncology-lounge", headers=bearer(a.token))
        missing = c.get("/api/communities/no-such-community", headers=bearer(a.token))
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json() == {"error": "not_found", "detail": "no such community"}
        r = c.get("/api/communities/breast-cancer", headers=bearer(a.token))
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "national" and r.json()["slug"] == "breast-cancer"
        assert "organization" not in r.json()
        r = c.get("/api/communities/riverside-cancer-center-lounge", headers=bearer(a.token))
        assert r.status_code == 200 and r.json()["organization"] == ORG_A[0], r.text
        r = c.get("/api/communities/hillcrest-oncology-lounge", headers=bearer(b.token))
        assert r.status_code == 200 and r.json()["organization"] == ORG_B[0], r.text

        for path in ("/api/communities", "/api/communities/breast-cancer", "/api/communities/hillcrest-oncology-lounge"):
            r = c.get(path)
            assert r.status_code == 401, (path, r.text)
            assert error_of(r) == "unauthenticated"


# --------------------------------------------------------------------------- privacy


def _walk_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _walk_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_keys(v)


async def test_other_members_never_see_an_email(deployment: Deployment) -> None:
    room = "young-adults"
    actor, watcher, late = register(deployment), register(deployment), register(deployment)
    w = await Conn.connect(deployment.gateways[0].ws_url, watcher.token, protocol=JSON)
    a = await Conn.connect(deployment.gateways[-1].ws_url, actor.token)
    lw: Client | None = None
    try:
        await w.join(room)
        await a.join(room)  # watcher sees presence: joined
        await w.wait_until(lambda f: actor.id in w.present_ids(room), 5, "actor present")
        await a.send({"type": "typing", "room": room})
        await w.wait_frame("typing", room=room)
        ack = await a.post(room, "hello, nothing personal here", cid="p1")
        await w.wait_frame("message", room=room, id=ack["id"])
        lw = await Conn.connect(deployment.gateways[1 % len(deployment.gateways)].ws_url, late.token)
        joined = await lw.join(room, since=0)  # joined.present, and the replayed message
        assert actor.id in {p["id"] for p in joined["present"]}
        await lw.wait_frame("message", room=room, id=ack["id"])
        await a.close()  # watcher sees presence: left
        await w.wait_until(lambda f: actor.id not in w.present_ids(room), 5, "actor gone")
        seen = [*w.frames, *lw.frames]
        kinds = {f["type"] for f in seen}
        assert {"joined", "presence", "typing", "message"} <= kinds
        for frame in seen:
            assert "email" not in set(_walk_keys(frame)), frame
            text = json.dumps(frame)
            for email in (actor.email, watcher.email, late.email):
                assert email not in text, frame
            assert "@example.org" not in text, frame
        people = [p for f in seen for p in _people(f)]
        assert actor.id in {p["id"] for p in people}
        assert all(set(p) == {"id", "handle", "role"} for p in people), people
    finally:
        await w.close()
        await a.close()
        if lw is not None:
            await lw.close()


def _people(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Every member view in a frame: presence, message author, typing user, joined.present."""
    out: list[dict[str, Any]] = list(frame.get("present", []))
    for key in ("joined", "left", "author", "user"):
        value = frame.get(key)
        if isinstance(value, dict):
            out.append(value)
        elif frame.get("type") == "presence" and isinstance(value, list):
            out.extend(value)
    return out


# --------------------------------------------------------------------------- health, headers


def test_health_probes(deployment: Deployment) -> None:
    redis_mode = "KINDRED_REDIS_URL" in deployment.env
    for i in range(len(deployment.gateways)):
        with http(deployment, i) as c:
            r = c.get("/healthz")
            assert r.status_code == 200 and r.json() == {"status": "alive"}, r.text
            r = c.get("/readyz")
            expected: dict[str, object] = {"status": "ready", "database": "ok"}
            if redis_mode:
                expected["redis"] = "ok"
                body = r.json()
                assert isinstance(body.pop("transcript_backlog", None), int), r.text
            else:
                body = r.json()
            assert r.status_code == 200 and body == expected, r.text


def test_security_headers(deployment: Deployment) -> None:
    m = register(deployment)
    with http(deployment) as c:
        responses = {
            "healthz": c.get("/healthz"),
            "readyz": c.get("/readyz"),
            "index": c.get("/"),
            "me 401": c.get("/api/me"),
            "me 200": c.get("/api/me", headers=bearer(m.token)),
            "communities 404": c.get("/api/communities/nope", headers=bearer(m.token)),
            "register 400": c.post("/api/register", json={}),
            "session 401": c.post("/api/session", json={"email": m.email, "password": "wrong one!"}),
            "register 413": c.post("/api/register", content=b"x" * 20000),
            "no route 404": c.get("/no/such/page"),
        }
    assert responses["index"].status_code == 200
    assert responses["me 200"].status_code == 200
    for name, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, (name, r.headers)
        assert "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-frame-options") == "DENY", name
        assert r.headers.get("referrer-policy") == "no-referrer", name
        if r.url.path.startswith("/api/"):
            assert r.headers.get("cache-control") == "no-store", name
