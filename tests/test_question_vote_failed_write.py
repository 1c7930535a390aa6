"""A vote whose write the database fails is answered ``unavailable`` (503 over HTTP, an
``error`` frame over the socket), in both modes: the count and the vote rows stay as they
were, the socket stays open, and once the database writes again the same vote counts once.

The failure is a trigger on ``question_votes`` that refuses this test's question alone (as a
full disk would refuse any write), so the question's read, kept or not, still succeeds and
the failure is the write's. Before 2026-12-07 such a failure was answered ``internal``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from support.cluster import Deployment
from support.deployment_sql import is_redis
from support.moderation import Teams, api, close_all, connect, new_cid
from support.questions import act_http, ask_http, frame_answer, go_live, ok, schedule, sign_up
from support.vote_storm import vote_rows

_PG_REFUSE = (
    "CREATE OR REPLACE FUNCTION kindred_test_refuse_votes() RETURNS trigger AS $$ BEGIN "
    "IF COALESCE(NEW.question_id, OLD.question_id) = TG_ARGV[0]::int THEN "
    "RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END IF; "
    "RETURN COALESCE(NEW, OLD); END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse_votes BEFORE INSERT OR DELETE ON question_votes FOR EACH ROW "
    "EXECUTE FUNCTION kindred_test_refuse_votes({qid})",
)
_PG_ALLOW = ("DROP TRIGGER refuse_votes ON question_votes", "DROP FUNCTION kindred_test_refuse_votes()")
_LITE_REFUSE = tuple(
    f"CREATE TRIGGER refuse_votes_{op} BEFORE {op} ON question_votes WHEN {row}.question_id = {{qid}} "
    "BEGIN SELECT RAISE(ABORT, 'could not extend file'); END"
    for op, row in (("INSERT", "NEW"), ("DELETE", "OLD"))
)
_LITE_ALLOW = ("DROP TRIGGER refuse_votes_INSERT", "DROP TRIGGER refuse_votes_DELETE")


async def _run(dep: Deployment, statements: tuple[str, ...], public_id: str) -> None:
    if is_redis(dep):
        conn = await asyncpg.connect(dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            qid = await conn.fetchval("SELECT id FROM questions WHERE public_id = $1", public_id)
            for sql in statements:
                await conn.execute(sql.format(qid=qid) if "{qid}" in sql else sql)
        finally:
            await conn.close()
        return
    db = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db", timeout=30)
    try:
        qid = db.execute("SELECT id FROM questions WHERE public_id = ?", (public_id,)).fetchone()[0]
        for sql in statements:
            db.execute(sql.format(qid=qid))
        db.commit()
    finally:
        db.close()


async def _votes_column(dep: Deployment, public_id: str) -> int:
    if is_redis(dep):
        conn = await asyncpg.connect(dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await conn.fetchval("SELECT votes FROM questions WHERE public_id = $1", public_id))
        finally:
            await conn.close()
    db = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db", timeout=30)
    try:
        return int(db.execute("SELECT votes FROM questions WHERE public_id = ?", (public_id,)).fetchone()[0])
    finally:
        db.close()


async def test_a_vote_the_database_fails_is_unavailable_and_changes_nothing(deployment: Deployment) -> None:
    dep = deployment
    org, host = Teams().of(dep)
    asker, first, second = dep.register(), dep.register(), dep.register(gateway=len(dep.gateways) - 1)
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, first, second])
    await go_live(dep, host, w)
    client = await connect(dep, second, len(dep.gateways) - 1, w.room)
    try:
        q = await ask_http(dep, asker, w, "Can I travel during treatment?", new_cid("fail"))
        await act_http(dep, host, q["id"], "approve")
        assert ok(await api(dep, "PUT", f"/api/questions/{q['id']}/vote", first.token))["votes"] == 1
        refuse = _PG_REFUSE if is_redis(dep) else _LITE_REFUSE
        allow = _PG_ALLOW if is_redis(dep) else _LITE_ALLOW
        await _run(dep, refuse, q["id"])
        try:
            over_http = await api(dep, "DELETE", f"/api/questions/{q['id']}/vote", first.token)
            assert over_http.status_code == 503, over_http.text
            assert over_http.json()["error"] == "unavailable", over_http.text
            cid = new_cid("v")
            over_socket = await frame_answer(client, {"type": "vote", "question": q["id"], "up": True, "cid": cid},
                                             ("voted", "error"))
            assert over_socket["type"] == "error" and over_socket["code"] == "unavailable", over_socket
            assert over_socket.get("cid") == cid, over_socket
            # Nothing changed: the count and the rows are the first vote's alone.
            assert await vote_rows(dep, [q["id"]]) == {q["id"]: 1}
            assert await _votes_column(dep, q["id"]) == 1
        finally:
            await _run(dep, allow, q["id"])
        # The socket is as it was, and the same vote now counts once.
        assert client.close_code is None
        again = await frame_answer(client, {"type": "vote", "question": q["id"], "up": True, "cid": new_cid("v")},
                                   ("voted", "error"))
        assert again["type"] == "voted" and again["votes"] == 2, again
        assert ok(await api(dep, "DELETE", f"/api/questions/{q['id']}/vote", first.token))["votes"] == 1
        assert await vote_rows(dep, [q["id"]]) == {q["id"]: 1}
        assert await _votes_column(dep, q["id"]) == 1
    finally:
        await close_all(client)
