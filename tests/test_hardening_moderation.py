"""Issue 13, point 4: a navigator cannot act on, or learn about, a member of another
organization through their own local room. Such a target gets ``no_such_member``, the answer
for an id nobody has, over WebSocket and HTTP alike, and nothing is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from support.cluster import ORG_B, Deployment
from support.deployment_sql import is_redis
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    default_org,
    moderate,
    new_cid,
    ping,
)


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def _rows(dep: Deployment, table: str) -> int:
    """How many rows ``table`` holds, read from the database itself."""
    if is_redis(dep):
        dsn = dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        finally:
            await conn.close()
    db = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db")
    try:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


async def test_a_member_of_another_organization_is_no_such_member(
    deployment: Deployment, teams: Teams
) -> None:
    dep = deployment
    org_a, nav = teams.of(dep)
    org_b = default_org(ORG_B)
    stranger = dep.register(org=org_b.key)
    made_up = "u" + ("0" * 16 if stranger.id != "u" + "0" * 16 else "1" * 16)  # nobody's id
    na = await connect(dep, nav, 0, org_a.lounge)
    sb = await connect(dep, stranger, len(dep.gateways) - 1, org_b.lounge)
    try:
        restrictions, audited = await _rows(dep, "restrictions"), await _rows(dep, "audit_log")
        for action, extra in (("mute", {"duration_s": 600}), ("kick", {"duration_s": 600}),
                              ("ban", {}), ("unmute", {}), ("unban", {})):
            answers = []
            for user in (stranger.id, made_up):
                got = await moderate(na, org_a.lounge, action, user=user, reason="testing", **extra)
                answers.append((got.get("type"), got.get("code"), got.get("detail")))
            assert answers[0] == answers[1] == ("error", "no_such_member", "no such member"), (action, answers)
            await ping(na)
        # Over HTTP: unban (and the others) answer a real id of another organization exactly
        # as they answer a made-up one.
        for action in ("unban", "ban", "mute"):
            got = []
            for user in (stranger.id, made_up):
                r = await api(dep, "POST", f"/api/rooms/{org_a.lounge}/moderation", nav.token,
                              json={"action": action, "user": user, "reason": "testing"})
                got.append((r.status_code, r.json()))
            assert got[0] == got[1], (action, got)
            assert got[0][0] == 404 and got[0][1]["error"] == "no_such_member", got
        # Nothing written: no restriction, no audit entry; the stranger still speaks.
        assert await _rows(dep, "restrictions") == restrictions
        assert await _rows(dep, "audit_log") == audited
        assert (await sb.post(org_b.lounge, "still here", cid=new_cid()))["type"] == "ack"
        assert sb.close_code is None
    finally:
        await close_all(na, sb)
