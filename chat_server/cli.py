"""The ``kindred`` command (also ``python -m chat_server``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from chat_server.cli_members import cmd_user_assign, cmd_user_reset, cmd_user_role
from chat_server.cli_support import _ensure_schema, _settings, _with_db, _with_resources


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from persistence import migrate

    settings = _settings()
    migrate.upgrade(settings.effective_database_url)
    print(f"database at revision {migrate.current_revision(settings.effective_database_url)}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from persistence import communities
    from rooms import catalog

    settings = _settings()
    _ensure_schema(settings)

    async def work(db: Any, secret: str) -> int:
        added, updated = await communities.seed(db, catalog.load().communities)
        print(f"catalog: {added} communities added, {updated} updated")
        return 0

    return _with_db(settings, work)


def cmd_org_add(args: argparse.Namespace) -> int:
    from chat_server.readers import utcnow
    from chat_server.security import key_digest, new_key_phrase
    from persistence import accounts
    from rooms import catalog

    settings = _settings()
    _ensure_schema(settings)

    async def work(db: Any, secret: str) -> int:
        existing = await accounts.org_by_name(db, args.name)
        if existing is not None:
            if args.if_missing:
                print(f"organization {args.name!r} exists (key phrase not shown: "
                      f"`kindred org rotate-key {args.name!r}` issues a new one)")
                return 0
            print(f"kindred: organization {args.name!r} already exists", file=sys.stderr)
            return 1
        phrase = args.key_phrase or new_key_phrase()
        slug = catalog.slugify(args.name)
        rooms = [spec.for_org(slug, args.name) for spec in catalog.load().local_rooms]
        try:
            await accounts.add_org(db, args.name, slug, key_digest(secret, phrase), rooms, utcnow())
        except accounts.Conflict as exc:
            print(f"kindred: an organization with that {exc.field} exists", file=sys.stderr)
            return 1
        print(f"organization {args.name!r} added with {len(rooms)} local rooms")
        print(f"key phrase: {phrase}")
        return 0

    return _with_db(settings, work)


def cmd_org_list(args: argparse.Namespace) -> int:
    from persistence import accounts

    async def work(db: Any, secret: str) -> int:
        for org, members in await accounts.list_orgs(db):
            print(f"{org.name}\t{org.slug}\t{members} members")
        return 0

    settings = _settings()
    _ensure_schema(settings)
    return _with_db(settings, work)


def cmd_org_rotate(args: argparse.Namespace) -> int:
    from chat_server.security import key_digest, new_key_phrase
    from persistence import accounts

    async def work(db: Any, secret: str) -> int:
        org = await accounts.org_by_name(db, args.name)
        if org is None:
            print(f"kindred: no organization {args.name!r}", file=sys.stderr)
            return 1
        phrase = new_key_phrase()
        await accounts.set_org_key(db, org, key_digest(secret, phrase))
        print(f"new key phrase for {args.name!r}: {phrase}")
        print("the old phrase no longer works; existing members are not affected")
        return 0

    settings = _settings()
    _ensure_schema(settings)
    return _with_db(settings, work)


def cmd_org_resources(args: argparse.Namespace) -> int:
    """Set (from a TOML or JSON file) or clear an organization's crisis resources."""
    import json
    import tomllib
    from pathlib import Path

    from persistence import accounts
    from persistence import moderation as store
    from rooms import resources

    stored: str | None = None
    if not args.clear:
        if args.file is None:
            print("kindred: give a file, or --clear", file=sys.stderr)
            return 2
        raw = Path(args.file).read_text(encoding="utf-8")
        try:
            data = json.loads(raw) if args.file.endswith(".json") else tomllib.loads(raw)
            stored = resources.parse(data).to_json()
        except ValueError as exc:
            print(f"kindred: {args.file}: {exc}", file=sys.stderr)
            return 2

    async def work(db: Any, secret: str) -> int:
        org = await accounts.org_by_name(db, args.name)
        if org is None:
            print(f"kindred: no organization {args.name!r}", file=sys.stderr)
            return 1
        await store.set_org_resources(db, org, stored)
        print(f"crisis resources for {args.name!r} " + ("cleared (defaults apply)" if stored is None else "set"))
        return 0

    settings = _settings()
    _ensure_schema(settings)
    return _with_db(settings, work)


def cmd_serve(args: argparse.Namespace) -> int:
    from chat_server.serve import serve

    settings = _settings()
    _ensure_schema(settings)
    serve(settings)
    return 0


def cmd_writer(args: argparse.Namespace) -> int:
    """A transcript writer on its own (Redis mode): several may run; they share the work."""
    import contextlib

    from chat_server.transcripts.redis_writer import RedisWriter

    settings = _settings()
    if not settings.redis_url:
        print("kindred: `kindred writer` needs KINDRED_REDIS_URL; in embedded mode the "
              "server writes transcripts itself", file=sys.stderr)
        return 2
    _ensure_schema(settings)

    async def work(resources: Any) -> int:
        writer = RedisWriter(resources.redis, resources.db, settings.writer_batch,
                             settings.writer_claim_idle_s, gather_s=settings.writer_gather_s)
        await writer.run()
        return 0

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_with_resources(settings, work))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete messages older than each community's retention period, in the database and in
    the room's recent log in Redis."""
    import time

    from chat_server import keys
    from persistence import communities, transcripts

    settings = _settings()
    _ensure_schema(settings)

    async def work(resources: Any) -> int:
        redis = resources.redis
        now_ms = int(time.time() * 1000)
        async with resources.db() as db:
            for slug, days in await communities.retention(db):
                deleted, newest = await transcripts.purge(db, slug, now_ms - days * 86_400_000)
                if redis is not None and newest:
                    # Exact, not approximate: purged bodies must not linger in the stream.
                    await redis.xtrim(keys.log(slug), minid=f"{newest + 1}-0", approximate=False)
                print(f"{slug}: {deleted} messages older than {days} days deleted")
        return 0

    return asyncio.run(_with_resources(settings, work))


def cmd_retention(args: argparse.Namespace) -> int:
    from persistence import communities

    if args.days != "none" and not args.days.isdigit():
        print("kindred: retention is a number of days, or none", file=sys.stderr)
        return 2
    days = None if args.days == "none" else int(args.days)
    if days is not None and days < 1:
        print("kindred: retention is at least 1 day, or none", file=sys.stderr)
        return 2
    settings = _settings()
    _ensure_schema(settings)

    async def work(db: Any, secret: str) -> int:
        if not await communities.set_retention(db, args.slug, days):
            print(f"kindred: no community {args.slug!r}", file=sys.stderr)
            return 1
        print(f"{args.slug}: messages kept {'forever' if days is None else f'{days} days'}")
        return 0

    return _with_db(settings, work)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kindred", description="Kindred support rooms")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the server").set_defaults(run=cmd_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)
    sub.add_parser("seed", help="load the community catalog (idempotent)").set_defaults(run=cmd_seed)
    sub.add_parser("writer", help="run a transcript writer (Redis mode)").set_defaults(run=cmd_writer)
    sub.add_parser("purge", help="delete messages past their retention").set_defaults(run=cmd_purge)
    community = sub.add_parser("community", help="communities").add_subparsers(
        dest="community_command", required=True
    )
    keep = community.add_parser("retention", help="set how long a community's messages are kept")
    keep.add_argument("slug")
    keep.add_argument("days", help="a number of days, or none")
    keep.set_defaults(run=cmd_retention)
    org = sub.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True)
    add = org.add_parser("add", help="add an organization and its local rooms")
    add.add_argument("name")
    add.add_argument("--key-phrase", help="the phrase members register with (default: generated)")
    add.add_argument("--if-missing", action="store_true", help="do nothing if it exists")
    add.set_defaults(run=cmd_org_add)
    org.add_parser("list", help="list organizations").set_defaults(run=cmd_org_list)
    rotate = org.add_parser("rotate-key", help="issue a new key phrase")
    rotate.add_argument("name")
    rotate.set_defaults(run=cmd_org_rotate)
    res = org.add_parser("resources", help="set the crisis resources shown to members")
    res.add_argument("name")
    res.add_argument("file", nargs="?", help="a .toml or .json file (see rooms/data/crisis_resources.toml)")
    res.add_argument("--clear", action="store_true", help="go back to the defaults")
    res.set_defaults(run=cmd_org_resources)
    user = sub.add_parser("user", help="members").add_subparsers(dest="user_command", required=True)
    role = user.add_parser("role", help="set a member's role")
    role.add_argument("handle")
    role.add_argument("role", help="member, expert, navigator, org_admin or admin")
    role.set_defaults(run=cmd_user_role)
    assign = user.add_parser("assign", help="assign staff to a national room ('*' for all)")
    assign.add_argument("handle")
    assign.add_argument("slug", help="a national community's slug, or '*'")
    assign.add_argument("--remove", action="store_true", help="take the assignment away")
    assign.set_defaults(run=cmd_user_assign)
    reset = user.add_parser("reset-password", help="issue a one-time password reset code")
    reset.add_argument("handle")
    reset.set_defaults(run=cmd_user_reset)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # At INFO SQLAlchemy would log every statement (a writer: every batch of messages).
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    result: int = args.run(args)
    return result
