"""``kindred user ...``: members' roles, staff assignments and password resets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chat_server.cli_support import _ensure_schema, _settings, _with_db


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


def cmd_user_assign(args: argparse.Namespace) -> int:
    """Assign a navigator or org admin to moderate a national room ('*': all of them)."""
    from sqlmodel import select

    from persistence import accounts, communities
    from persistence import moderation as store
    from persistence.models import User
    from rooms import handles
    from rooms.roles import Role

    async def work(db: Any, secret: str) -> int:
        user = (await db.exec(select(User).where(User.handle_key == handles.normalize(args.handle)))).first()
        if user is None or user.id is None:
            print(f"kindred: no member with handle {args.handle!r}", file=sys.stderr)
            return 1
        if args.slug != "*":
            community = await communities.by_slug(db, args.slug)
            if community is None or community.org_id is not None:
                print(f"kindred: {args.slug!r} is not a national community", file=sys.stderr)
                return 1
        if args.remove:
            done = await store.unassign(db, user.id, args.slug)
            print(f"{user.handle} no longer moderates {args.slug}" if done else "was not assigned")
            return 0
        await store.assign(db, user.id, args.slug)
        role = accounts.to_member(user).role
        note = "" if role in (Role.NAVIGATOR, Role.ORG_ADMIN) else (
            f" (as {role.value} this has no effect: make them a navigator with `kindred user role`)"
        )
        where = "every national room" if args.slug == "*" else args.slug
        print(f"{user.handle} moderates {where}{note}; it applies to their next connection")
        return 0

    settings = _settings()
    _ensure_schema(settings)
    return _with_db(settings, work)


def cmd_user_reset(args: argparse.Namespace) -> int:
    """Print a one-time code with which the member sets a new password (24 hours)."""
    from sqlmodel import select

    from chat_server.accounts.passwords import RESET_CODE_TTL, code_digest
    from chat_server.readers import utcnow
    from chat_server.security import new_key_phrase
    from persistence import passwords
    from persistence.models import User
    from rooms import handles

    async def work(db: Any, secret: str) -> int:
        user = (await db.exec(select(User).where(User.handle_key == handles.normalize(args.handle)))).first()
        if user is None or user.id is None:
            print(f"kindred: no member with handle {args.handle!r}", file=sys.stderr)
            return 1
        code = new_key_phrase()
        await passwords.issue_reset(db, user.id, code_digest(code), utcnow(), utcnow() + RESET_CODE_TTL)
        print(f"reset code for {user.handle}: {code}")
        print("it works once, within 24 hours, with the member's email address; older codes are void")
        return 0

    settings = _settings()
    _ensure_schema(settings)
    return _with_db(settings, work)
