"""Following and the feed end to end (docs/social.md), in both modes: the feed never holds
anything from a room the viewer cannot join (two organizations' local rooms, a session's
room one has no place in), nor removed messages, anonymous questions, or anyone the viewer
blocked; it pages with a cursor that never repeats or skips; being followed can be turned
off, and a block ends a follow."""

from __future__ import annotations

import json
from typing import Any

from support.cluster import ORG_A, ORG_B, Deployment, Member
from support.moderation import (
    api,
    close_all,
    connect,
    default_org,
    make_staff,
    moderate_ok,
    new_cid,
    wait_ids_stored,
)
from support.questions import act_http, ask_http, schedule, sign_up

NATIONAL = "breast-cancer"


async def follow(dep: Deployment, who: Member, whom: Member) -> None:
    r = await api(dep, "PUT", f"/api/following/{whom.id}", who.token)
    assert r.status_code == 200 and r.json()["following"] is True, r.text


async def whole_feed(dep: Deployment, m: Member, limit: int = 100) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"before": before} if before else {})}
        r = await api(dep, "GET", "/api/feed", m.token, params=params)
        assert r.status_code == 200, r.text
        entries += r.json()["entries"]
        before = r.json()["next"]
        if before is None:
            return entries


def bodies(entries: list[dict[str, Any]]) -> set[str]:
    return {e["message"]["body"] for e in entries if "message" in e} | {
        e["question"]["body"] for e in entries if "question" in e}


async def test_the_feed_holds_only_rooms_the_viewer_can_join(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    local_a = default_org(ORG_A).lounge
    host = make_staff(dep, ORG_A, "navigator", assign=(NATIONAL,))
    followed = dep.register()
    same_org, other_org = dep.register(), dep.register(org=ORG_B)
    for viewer in (same_org, other_org):
        await follow(dep, viewer, followed)
        await follow(dep, viewer, host)

    open_webinar = await schedule(dep, host, NATIONAL, title="Open webinar on sleep")
    local_webinar = await schedule(dep, host, local_a, title="Riverside-only webinar")
    await sign_up(dep, open_webinar, [followed, same_org])  # other_org has no place in it
    cf = await connect(dep, followed, 0, NATIONAL, local_a)
    ch = await connect(dep, host, last, NATIONAL, open_webinar.room)
    try:
        national = await cf.post(NATIONAL, "words for everyone", new_cid())
        reply = await cf.post(NATIONAL, "a reply for everyone", new_cid(), reply_to=national["id"])
        local = await cf.post(local_a, "words for riverside only", new_cid())
        gone = await cf.post(NATIONAL, "words a navigator removed", new_cid())
        in_session = await ch.post(open_webinar.room, "the host's words in the session room", new_cid())
        await moderate_ok(ch, NATIONAL, "remove", message=gone["id"], reason="off topic")
        named = await ask_http(dep, followed, open_webinar, "a question with my name on it", new_cid())
        hidden = await ask_http(dep, followed, open_webinar, "a question asked anonymously", new_cid(), anonymous=True)
        for q in (named, hidden):
            if q["status"] == "pending":
                await act_http(dep, host, q["id"], "approve")
        await wait_ids_stored(dep, followed.token, NATIONAL, national["id"], reply["id"])
        await wait_ids_stored(dep, followed.token, local_a, local["id"])
        await wait_ids_stored(dep, host.token, open_webinar.room, in_session["id"])
    finally:
        await close_all(cf, ch)

    everything = await whole_feed(dep, same_org)
    outside = await whole_feed(dep, other_org)
    # Another organization's member: national rooms only, and no session room without a place.
    assert bodies(outside) == {"words for everyone", "a reply for everyone"}
    assert {e["room"] for e in outside} == {NATIONAL}
    assert [e["session"]["title"] for e in outside if e["kind"] == "session"] == ["Open webinar on sleep"]
    text = json.dumps(outside)
    for secret in ("riverside", "Riverside", local_a, open_webinar.room, local_webinar.room,
                   "removed", "anonymously", "host's words", named["id"], hidden["id"]):
        assert secret not in text, secret
    # A member of the same organization with a place in the session sees those too.
    assert bodies(everything) == {"words for everyone", "a reply for everyone", "words for riverside only",
                                  "the host's words in the session room", "a question with my name on it"}
    assert {e["session"]["title"] for e in everything if e["kind"] == "session"} == {
        "Open webinar on sleep", "Riverside-only webinar"}
    text = json.dumps(everything)
    assert "removed" not in text and "anonymously" not in text and hidden["id"] not in text
    kinds = {e.get("message", e.get("question", {})).get("body"): e["kind"] for e in everything}
    assert kinds["a reply for everyone"] == "reply" and kinds["words for everyone"] == "message"
    assert kinds["a question with my name on it"] == "question"
    by = {e["by"]["id"] for e in everything}
    assert by == {followed.id, host.id}
    session_entry = next(e for e in everything if "message" in e and e["room"] == open_webinar.room)
    assert session_entry["event"] == open_webinar.id and session_entry["room_name"] == "Open webinar on sleep"
    # Newest first.
    ats = [e["at"] for e in everything]
    assert ats == sorted(ats, reverse=True)


async def test_the_feed_pages_without_repeating_or_skipping(deployment: Deployment) -> None:
    dep = deployment
    followed, viewer = dep.register(), dep.register(org=ORG_B)
    await follow(dep, viewer, followed)
    cf = await connect(dep, followed, 0, NATIONAL)
    try:
        posted = [(await cf.post(NATIONAL, f"update number {i}", new_cid()))["id"] for i in range(7)]
        await wait_ids_stored(dep, followed.token, NATIONAL, *posted)
        first = (await api(dep, "GET", "/api/feed", viewer.token, params={"limit": 3})).json()
        assert [e["message"]["id"] for e in first["entries"]] == posted[::-1][:3]
        # New messages meanwhile do not move the pages that follow.
        newer = [(await cf.post(NATIONAL, f"later update {i}", new_cid()))["id"] for i in range(2)]
        await wait_ids_stored(dep, followed.token, NATIONAL, *newer)
    finally:
        await close_all(cf)
    seen = [e["message"]["id"] for e in first["entries"]]
    before = first["next"]
    while before:
        page = (await api(dep, "GET", "/api/feed", viewer.token, params={"limit": 3, "before": before})).json()
        seen += [e["message"]["id"] for e in page["entries"]]
        before = page["next"]
    assert seen == posted[::-1]
    assert [e["message"]["id"] for e in await whole_feed(dep, viewer)] == newer[::-1] + posted[::-1]
    for params in ({"before": "nonsense"}, {"before": "1.x.abc"}, {"before": "1.m.abc"}, {"limit": 0}, {"limit": "many"}):
        r = await api(dep, "GET", "/api/feed", viewer.token, params=params)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), params
    assert (await api(dep, "GET", "/api/feed", viewer.token, params={"limit": 500})).status_code == 200


async def test_following_can_be_turned_off_and_a_block_ends_it(deployment: Deployment) -> None:
    dep = deployment
    followed, viewer = dep.register(), dep.register()
    await follow(dep, viewer, followed)
    await follow(dep, viewer, followed)  # following twice is following
    assert (await api(dep, "GET", "/api/following", viewer.token)).json()["following"] == [
        {"id": followed.id, "handle": followed.handle, "role": "member"}]
    assert [m["id"] for m in (await api(dep, "GET", "/api/following", followed.token)).json()["followers"]] == [viewer.id]
    cf = await connect(dep, followed, 0, NATIONAL)
    try:
        said = await cf.post(NATIONAL, "an update for my followers", new_cid())
        await wait_ids_stored(dep, followed.token, NATIONAL, said["id"])
    finally:
        await close_all(cf)
    assert bodies(await whole_feed(dep, viewer)) == {"an update for my followers"}
    # Following asks no consent and tells nobody.
    assert (await api(dep, "GET", "/api/notifications", followed.token)).json()["notifications"] == []

    # Turned off: the followers go (they are not told), and nobody can follow.
    r = await api(dep, "PUT", "/api/people/settings", followed.token, json={"followable": False})
    assert r.json() == {"friend_requests": True, "followable": False}
    assert (await api(dep, "GET", "/api/following", viewer.token)).json()["following"] == []
    assert await whole_feed(dep, viewer) == []
    r = await api(dep, "PUT", f"/api/following/{followed.id}", viewer.token)
    assert (r.status_code, r.json()["error"]) == (403, "not_accepted")
    assert (await api(dep, "GET", f"/api/people/{followed.id}", viewer.token)).json()["can_follow"] is False
    # On again: nobody comes back by themselves; following works again.
    await api(dep, "PUT", "/api/people/settings", followed.token, json={"followable": True})
    assert (await api(dep, "GET", "/api/following", viewer.token)).json()["following"] == []
    await follow(dep, viewer, followed)
    assert bodies(await whole_feed(dep, viewer)) == {"an update for my followers"}

    # The viewer blocks them: the follow ends, the feed holds nothing of theirs, no new follow.
    assert (await api(dep, "PUT", f"/api/blocks/{followed.id}", viewer.token)).status_code == 204
    assert (await api(dep, "GET", "/api/following", viewer.token)).json()["following"] == []
    assert await whole_feed(dep, viewer) == []
    r = await api(dep, "PUT", f"/api/following/{followed.id}", viewer.token)
    assert (r.status_code, r.json()["error"]) == (409, "you_blocked")
    r = await api(dep, "DELETE", f"/api/following/{followed.id}", viewer.token)
    assert r.status_code == 200 and r.json()["following"] is False
