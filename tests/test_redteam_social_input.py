"""Red team: bad input to friends, following, the feed and profiles over HTTP (docs/social.md,
protocol.md §9), in both modes (embedded on SQLite; three gateways on Redis and PostgreSQL).

Every bad request gets a clear 4xx with a JSON error, nothing changes (read back afterwards),
and every gateway stays healthy: no token or a wrong one, wrong methods, malformed and
hostile ids, cross-site writes with the session cookie, bodies that are too big or not JSON,
and feed cursors shaped like ours but out of range."""

from __future__ import annotations

from typing import Any

import httpx

from support.cluster import ORG_B, Deployment, Member
from support.http import TLS
from support.moderation import api, default_org

COOKIE = "kindred_session"

EMPTY = {"friends": [], "incoming": [], "outgoing": []}


async def healthy(dep: Deployment) -> None:
    for gw in dep.gateways:
        async with httpx.AsyncClient(verify=TLS, base_url=gw.http_url, timeout=30) as http:
            assert (await http.get("/healthz")).status_code == 200


async def nothing_changed(dep: Deployment, *members: Member) -> None:
    for m in members:
        assert (await api(dep, "GET", "/api/friends", m.token)).json() == EMPTY
        assert (await api(dep, "GET", "/api/following", m.token)).json() == {"following": [], "followers": []}
        assert (await api(dep, "GET", "/api/people/settings", m.token)).json() == {
            "friend_requests": True, "followable": True}
        assert (await api(dep, "GET", "/api/notifications", m.token)).json()["notifications"] == []


def clear_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    if code is not None:
        assert body["error"] == code, body
    return body


async def test_without_a_session_nothing_is_answered_nor_changed(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register()
    routes = [("GET", "/api/friends"), ("PUT", f"/api/friends/{ben.id}"), ("DELETE", f"/api/friends/{ben.id}"),
              ("GET", "/api/following"), ("PUT", f"/api/following/{ben.id}"), ("DELETE", f"/api/following/{ben.id}"),
              ("GET", "/api/feed"), ("GET", f"/api/people/{ben.id}"), ("GET", "/api/people/settings"),
              ("PUT", "/api/people/settings")]
    for i, (method, path) in enumerate(routes):
        base = dep.gateways[i % len(dep.gateways)].http_url
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YW5uOnB3"},
                        {"Cookie": f"{COOKIE}=forged"}):
            async with httpx.AsyncClient(verify=TLS, base_url=base, timeout=30) as http:
                r = await http.request(method, path, headers=headers,
                                       json={"followable": False} if path.endswith("settings") and method == "PUT" else None)
            body = clear_error(r, 401, "unauthenticated")
            assert ben.handle not in r.text and ben.id not in str(body)
    await nothing_changed(dep, ann, ben)
    await healthy(dep)


async def test_wrong_methods_and_hostile_ids_are_clear_refusals(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register()
    for method, path in (("POST", f"/api/friends/{ben.id}"), ("PATCH", f"/api/friends/{ben.id}"),
                         ("POST", "/api/friends"), ("PUT", "/api/friends"), ("POST", f"/api/following/{ben.id}"),
                         ("DELETE", "/api/feed"), ("POST", "/api/feed"), ("PUT", f"/api/people/{ben.id}"),
                         ("DELETE", "/api/people/settings")):
        r = await api(dep, method, path, ann.token)
        assert r.status_code in (404, 405), (method, path, r.status_code, r.text)
    hostile = ["u" + "0" * 15, "u" + "0" * 17, ben.id.upper(), ben.id + " ", " " + ben.id, ben.id + "%00",
               "u" + "f" * 5000, "%C3%BC" * 8, "u' OR '1'='1", "null", "0", "-1",
               ben.handle, ben.email]
    for i, bad in enumerate(hostile):
        for method, path in (("PUT", "/api/friends/"), ("DELETE", "/api/friends/"), ("PUT", "/api/following/"),
                             ("DELETE", "/api/following/"), ("GET", "/api/people/")):
            r = await api(dep, method, path + bad, ann.token, gateway=i)
            assert r.status_code in (404, 414), (method, bad, r.status_code, r.text)
            if r.status_code == 404 and r.headers.get("content-type", "").startswith("application/json"):
                assert r.json()["error"] in ("no_such_member", "not_found"), r.text
            assert ben.email not in r.text
    await nothing_changed(dep, ann, ben)
    await healthy(dep)


async def test_cross_site_writes_with_the_session_cookie_change_nothing(deployment: Deployment) -> None:
    """A page on another site that makes the browser send the session cookie: every write is
    refused (403 cross_site), a form's text/plain body is refused, and nothing changed; the
    same request from this server's own page works."""
    dep = deployment
    ann, ben = dep.register(), dep.register()
    gw = dep.gateways[0].http_url
    writes = [("PUT", f"/api/friends/{ben.id}", None), ("PUT", f"/api/following/{ben.id}", None),
              ("DELETE", f"/api/friends/{ben.id}", None), ("DELETE", f"/api/following/{ben.id}", None),
              ("PUT", "/api/people/settings", {"friend_requests": False, "followable": False})]
    forged = [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
              {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
              {"Origin": gw.replace("127.0.0.1", "localhost")}]
    async with httpx.AsyncClient(verify=TLS, base_url=gw, timeout=30, cookies={COOKIE: ann.token}) as http:
        for method, path, body in writes:
            for headers in forged:
                r = await http.request(method, path, json=body, headers=headers)
                clear_error(r, 403, "cross_site")
        # A form can post text/plain that happens to be JSON: refused even from our own origin.
        r = await http.put("/api/people/settings", content=b'{"followable": false}',
                           headers={"Content-Type": "text/plain", "Origin": gw})
        clear_error(r, 415)
        await nothing_changed(dep, ann, ben)
        # The page itself (same origin): works.
        r = await http.put(f"/api/following/{ben.id}", headers={"Origin": gw, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200 and r.json()["following"] is True, r.text
    await healthy(dep)


async def test_settings_bodies_that_are_not_what_was_asked_change_nothing(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register()
    base = dep.gateways[-1].http_url
    headers = {"Authorization": f"Bearer {ann.token}", "Content-Type": "application/json"}
    bodies: list[tuple[bytes, int]] = [
        (b'{"followable": false, "x": "' + b"a" * 40_000 + b'"}', 413),
        (b"not json", 400), (b"", 400), (b"[]", 400), (b'"followable"', 400), (b"null", 400),
        (b'{"followable": "maybe"}', 400), (b'{"followable": false, "email": "x@example.org"}', 400),
        (b'{"followable": {"$ne": 1}}', 400), (b'{"followable": [false]}', 400), (b"{" * 5000, 400),
    ]
    async with httpx.AsyncClient(verify=TLS, base_url=base, timeout=30, headers=headers) as http:
        assert (await http.put(f"/api/following/{ann.id}".replace(ann.id, ben.id))).status_code == 200
        for body, status in bodies:
            r = await http.put("/api/people/settings", content=body)
            clear_error(r, status)
        # Chunked and endless: refused at 16 KiB.
        async def endless() -> Any:
            yield b'{"followable": false, "x": "'
            for _ in range(100):
                yield b"a" * 1024

        r = await http.put("/api/people/settings", content=endless())
        clear_error(r, 413)
    # Ann still follows Ben (nothing was turned off), and her choices are as they were.
    assert (await api(dep, "GET", "/api/people/settings", ann.token)).json() == {"friend_requests": True, "followable": True}
    assert [m["id"] for m in (await api(dep, "GET", "/api/following", ann.token)).json()["following"]] == [ben.id]
    await healthy(dep)


async def test_feed_cursors_shaped_like_ours_but_out_of_range_are_refused(deployment: Deployment) -> None:
    """A cursor is opaque, but a forged one must be a 400, not a server error: a message key
    whose seq does not fit in 64 bits, a time far in the future, limits out of range."""
    dep = deployment
    viewer, followed = dep.register(), dep.register()
    assert (await api(dep, "PUT", f"/api/following/{followed.id}", viewer.token)).status_code == 200
    too_big_seq = "9" * 19 + "a" * 32
    for params in ({"before": f"1700000000000.m.{too_big_seq}"},
                   {"before": f"9999999999999999.m.{too_big_seq}"},
                   {"before": "1.m." + "0" * 19 + "A" * 32}, {"before": "1.q." + "x" * 61},
                   {"before": "-1.m.abc"}, {"before": "1.m.abc\n"}, {"before": "1.z.abc"},
                   {"limit": -1}, {"limit": "1e3"}, {"limit": "9" * 40}, {"limit": ""}):
        for g in range(len(dep.gateways)):
            r = await api(dep, "GET", "/api/feed", viewer.token, gateway=g, params=params)
            assert r.status_code in (200, 400), (params, r.status_code, r.text)
            if r.status_code == 400:
                assert r.json()["error"] == "invalid_request", r.text
    # A far-future time with a valid key is simply "everything": never an error.
    r = await api(dep, "GET", "/api/feed", viewer.token, params={"before": "9999999999999999.s.abc"})
    assert r.status_code == 200 and r.json() == {"entries": [], "next": None}
    await healthy(dep)


async def test_notification_requests_that_are_not_as_asked_change_nothing(deployment: Deployment) -> None:
    """Marking read with ids that are not ids (too big for the column, negative, strings,
    another member's), settings with kinds that do not exist, and another organization's
    room: a clear 4xx or nothing done, the notification still unread, every gateway healthy."""
    dep = deployment
    ann, ben = dep.register(), dep.register()
    assert (await api(dep, "PUT", f"/api/friends/{ben.id}", ann.token)).status_code == 200
    listed = (await api(dep, "GET", "/api/notifications", ben.token)).json()
    [note] = listed["notifications"]
    for body in ({"ids": [2**63]}, {"ids": [10**30]}, {"ids": [-1]}, {"ids": ["one"]}, {"ids": [note["id"]], "all": True},
                 {"ids": list(range(501))}, {}, {"all": False}, {"ids": [1.5]}, {"ids": None, "all": None}):
        for g in range(len(dep.gateways)):
            r = await api(dep, "POST", "/api/notifications/read", ben.token, gateway=g, json=body)
            assert r.status_code in (200, 400), (body, r.status_code, r.text)
            if r.status_code == 200:
                assert r.json()["read"] == [], (body, r.text)
    # Ann (not hers) with the right id: nothing.
    r = await api(dep, "POST", "/api/notifications/read", ann.token, json={"ids": [note["id"]]})
    assert r.status_code == 200 and r.json()["read"] == []
    for params in ({"limit": 0}, {"limit": -5}, {"offset": -1}, {"offset": "x"}):
        r = await api(dep, "GET", "/api/notifications", ben.token, params=params)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", (params, r.text)
    for body in ({"muted": ["nonsense"]}, {"muted": "mention"}, {"digest": "hourly"}, {"muted": ["mention"] * 21},
                 {"digest": "daily", "email": "x@example.org"}):
        r = await api(dep, "PUT", "/api/notifications/settings", ben.token, json=body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", (body, r.text)
    settings = (await api(dep, "GET", "/api/notifications/settings", ben.token)).json()
    assert settings["muted"] == [] and settings["digest"] == "off"
    # Another organization's local room: as if it did not exist.
    other = default_org(ORG_B).lounge
    r = await api(dep, "POST", f"/api/rooms/{other}/read", ben.token, json={})
    nobody = await api(dep, "POST", "/api/rooms/no-such-room-here/read", ben.token, json={})
    assert (r.status_code, r.content) == (nobody.status_code, nobody.content) and r.status_code == 404
    assert other not in (await api(dep, "GET", "/api/me/unread", ben.token)).json()["rooms"]
    again = (await api(dep, "GET", "/api/notifications", ben.token)).json()
    assert again["unread"] == 1 and again["notifications"][0]["read"] is False
    await healthy(dep)
