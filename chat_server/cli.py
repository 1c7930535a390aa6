"""The ``kindred`` command (also ``python -m chat_server``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chat_server.config import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"kindred: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _with_db(settings: Settings, work: Callable[[Any, str], Awaitable[int]]) -> int:
    """Run ``work(session, secret)`` against the configured database."""
    from chat_server.security import new_secret
    from persistence import accounts
    from persistence.db import make_engine, session_factory

    async def main() -> int:
        engine = make_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as db:
                secret = settings.secret_key or await accounts.server_secret(db, new_secret())
                return await work(db, secret)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from persistence import migrate

    settings = _settings()
    migrate.upgrade(settings.effective_database_url)
    print(f"database at revision {migrate.current_revision(settings.effective_database_url)}")
    return 0


def _ensure_schema(settings: Settings) -> None:
    from persistence import migrate

    current = migrate.current_revision(settings.effective_database_url)
    if current == migrate.head_revision():
        return
    if settings.is_sqlite:
        migrate.upgrade(settings.effective_database_url)  # one process owns the file
        return
    where = "empty" if current is None else f"at revision {current}"
    print(
        f"kindred: the database is {where}; this release needs revision "
        f"{migrate.head_revision()}: run `kindred db upgrade` first",
        file=sys.stderr,
    )
    raise SystemExit(2)


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
    from chat_server.runtime import utcnow
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


def cmd_user_role(args: argparse.Namespace) -> int:
    from persistence import accounts
    from rooms import handles
    from rooms.roles import Role

    try:
        role = Role.parse(args.role)
    except ValueError as exc:
        print(f"kindred: {exc}", file=sys.stderr)
        return 2

    async def work(db: Any, secret: str) -> int:
        user = await accounts.set_role(db, handles.normalize(args.handle), role)
        if user is None:
            print(f"kindred: no member with handle {args.handle!r}", file=sys.stderr)
            return 1
        print(f"{user.handle} is now {role.value}")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kindred", description="Kindred support rooms")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the server").set_defaults(run=cmd_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)
    sub.add_parser("seed", help="load the community catalog (idempotent)").set_defaults(run=cmd_seed)
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
    user = sub.add_parser("user", help="members").add_subparsers(dest="user_command", required=True)
    role = user.add_parser("role", help="set a member's role")
    role.add_argument("handle")
    role.add_argument("role", help="member, expert, navigator, org_admin or admin")
    role.set_defaults(run=cmd_user_role)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    result: int = args.run(args)
    return result
