"""Moderation rules as an authorization matrix, checked against an independent reference.

The reference below (``_expected``) is written from the product rules, not from
``rooms.moderation``: ranks are a literal list, staff-ness per room situation is a literal
table, and the room-only actions are spelled out. If the implementation drifts, cases fail.
"""

from __future__ import annotations

import itertools

import pytest

from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.moderation import (
    Action,
    Decision,
    Forbidden,
    Refusal,
    Restriction,
    check,
    decide,
    join_refusal,
    may_moderate_room,
    send_refusal,
)
from rooms.roles import Role

# --- The reference, written independently of the implementation ----------------------------

RANK_ORDER = ["member", "expert", "navigator", "org_admin", "admin"]  # lowest first
ROOM_ONLY = {"slow_mode", "lock", "unlock", "pin"}
ALL_ACTIONS = ["mute", "unmute", "kick", "ban", "unban", "remove", "slow_mode", "lock", "unlock", "pin"]

ACTOR_ORG = 1
OTHER_ORG = 2

# situation -> (room, the actor's assignments, roles that are staff of that room)
SITUATIONS: dict[str, tuple[Community, frozenset[str], set[str]]] = {
    # Own organization's local room: no assignment needed.
    "local_own_org": (
        Community("one-lounge", "Lounge", "local", "", org_id=ACTOR_ORG),
        frozenset(),
        {"navigator", "org_admin", "admin"},
    ),
    # Another organization's local room: even "*" and the room's own slug grant nothing.
    "local_other_org": (
        Community("two-lounge", "Lounge", "local", "", org_id=OTHER_ORG),
        frozenset({"*", "two-lounge"}),
        {"admin"},
    ),
    "national_assigned": (
        Community("lung-cancer", "Lung cancer", "cancer_type", ""),
        frozenset({"lung-cancer"}),
        {"navigator", "org_admin", "admin"},
    ),
    "national_assigned_all": (
        Community("lung-cancer", "Lung cancer", "cancer_type", ""),
        frozenset({"*"}),
        {"navigator", "org_admin", "admin"},
    ),
    "national_not_assigned": (
        Community("lung-cancer", "Lung cancer", "cancer_type", ""),
        frozenset({"breast-cancer", "one-lounge"}),
        {"admin"},
    ),
}


def _expected(situation: str, actor_role: str, action: str, target_role: str | None) -> tuple[bool, str]:
    _, _, staff = SITUATIONS[situation]
    if actor_role not in staff:
        return False, "not_staff"
    if action in ROOM_ONLY:
        return (True, "ok") if target_role is None else (False, "bad_target")
    if target_role is None:
        return False, "no_target"
    if RANK_ORDER.index(target_role) >= RANK_ORDER.index(actor_role):
        return False, "outranked"
    return True, "ok"


def _actor(role: str, org: int | None = ACTOR_ORG) -> Member:
    return Member(id="actor", handle="actor", role=Role(role), org_id=org)


def _target(role: str) -> Member:
    return Member(id="target", handle="target", role=Role(role), org_id=ACTOR_ORG)


MATRIX = list(itertools.product(SITUATIONS, RANK_ORDER, ALL_ACTIONS, [*RANK_ORDER, None]))


@pytest.mark.parametrize(
    ("situation", "actor_role", "action", "target_role"),
    MATRIX,
    ids=[f"{s}-{a}-{act}-on-{t or 'none'}" for s, a, act, t in MATRIX],
)
def test_authorization_matrix(
    situation: str, actor_role: str, action: str, target_role: str | None
) -> None:
    room, assigned, _ = SITUATIONS[situation]
    target = None if target_role is None else _target(target_role)
    allowed, reason = _expected(situation, actor_role, action, target_role)

    decision = decide(_actor(actor_role), room, Action(action), target, assigned)

    assert decision == Decision(allowed=allowed, reason=reason)
    if allowed:
        check(_actor(actor_role), room, Action(action), target, assigned)
    else:
        with pytest.raises(Forbidden) as raised:
            check(_actor(actor_role), room, Action(action), target, assigned)
        assert raised.value.reason == reason and raised.value.code == "forbidden"


def test_matrix_is_not_trivial() -> None:
    # Guard against a reference that refuses (or allows) everything.
    outcomes = {_expected(*case[:2], case[2], case[3]) for case in MATRIX}
    assert outcomes == {
        (True, "ok"),
        (False, "not_staff"),
        (False, "outranked"),
        (False, "no_target"),
        (False, "bad_target"),
    }


@pytest.mark.parametrize(("situation", "role"), list(itertools.product(SITUATIONS, RANK_ORDER)))
def test_may_moderate_room(situation: str, role: str) -> None:
    room, assigned, staff = SITUATIONS[situation]
    assert may_moderate_room(_actor(role), room, assigned) is (role in staff)


@pytest.mark.parametrize("role", RANK_ORDER)
@pytest.mark.parametrize("action", sorted(set(ALL_ACTIONS) - ROOM_ONLY))
def test_nobody_acts_on_themselves(role: str, action: str) -> None:
    room, assigned, _ = SITUATIONS["local_own_org"]
    me = _actor(role)
    expected = "not_staff" if role in {"member", "expert"} else "outranked"
    assert decide(me, room, Action(action), me, assigned) == Decision(False, expected)


def test_self_is_refused_even_with_a_stale_lower_role() -> None:
    # The same member id seen with an older, lower role is still the actor.
    room, assigned, _ = SITUATIONS["local_own_org"]
    stale_me = Member(id="actor", handle="actor", role=Role.MEMBER, org_id=ACTOR_ORG)
    assert decide(_actor("admin"), room, Action.MUTE, stale_me, assigned) == Decision(False, "outranked")


def test_staff_without_an_organization_gets_no_local_room() -> None:
    # org_id None must never equal a local room's organization; national rooms have org None.
    local = Community("one-lounge", "Lounge", "local", "", org_id=ACTOR_ORG)
    national = Community("lung-cancer", "Lung cancer", "cancer_type", "")
    navigator = _actor("navigator", org=None)
    assert not may_moderate_room(navigator, local, frozenset({"*", "one-lounge"}))
    assert not may_moderate_room(navigator, national, frozenset())
    assert may_moderate_room(navigator, national, frozenset({"*"}))
    assert may_moderate_room(_actor("admin", org=None), local, frozenset())


def test_action_groups() -> None:
    assert {a.value for a in Action} == set(ALL_ACTIONS)
    assert {a.value for a in Action if a.targets_member} == {"mute", "unmute", "kick", "ban", "unban"}
    assert {a.value for a in Action if a.targets_message} == {"remove"}
    assert {a.value for a in Action if a.room_only} == ROOM_ONLY
    for a in Action:  # every action is in exactly one group
        assert [a.targets_member, a.targets_message, a.room_only].count(True) == 1
        assert a.needs_target is not a.room_only


def test_forbidden_is_a_room_error() -> None:
    err = Forbidden("outranked")
    assert isinstance(err, RoomError) and err.code == "forbidden" and err.reason == "outranked"
    assert "higher rank" in err.detail and err.fields() == {"reason": "outranked"}


# --- Restrictions --------------------------------------------------------------------------


def test_restriction_expiry_is_half_open() -> None:
    mute = Restriction("mute", until=100.0, reason="cool down")
    assert mute.active(0.0) and mute.active(99.999)
    assert not mute.active(100.0) and not mute.active(100.001)


def test_indefinite_restriction_never_expires() -> None:
    ban = Restriction("ban", until=None, reason="abuse")
    assert ban.active(0.0) and ban.active(1e12)


def test_unknown_restriction_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown restriction kind"):
        Restriction("shadowban", until=None, reason="")  # type: ignore[arg-type]


def _send(
    restrictions: list[Restriction],
    *,
    now: float = 1000.0,
    locked: bool = False,
    slow_mode_s: int = 0,
    last_post_at: float | None = None,
    staff: bool = False,
) -> Refusal | None:
    return send_refusal(restrictions, locked, slow_mode_s, last_post_at, now, staff)


def test_send_allowed_with_nothing_in_force() -> None:
    assert _send([]) is None
    assert _send([Restriction("mute", 999.0, ""), Restriction("ban", 1000.0, "")]) is None


def test_send_refused_while_muted_until_the_boundary() -> None:
    mute = Restriction("mute", until=1060.0, reason="")
    assert _send([mute], now=1059.9) == Refusal("muted", until=1060.0)
    assert _send([mute], now=1060.0) is None


def test_send_muted_reports_the_latest_end_and_indefinite_wins() -> None:
    short, long_ = Restriction("mute", 1010.0, ""), Restriction("mute", 1500.0, "")
    expired = Restriction("mute", 900.0, "")
    assert _send([expired, short, long_]) == Refusal("muted", until=1500.0)
    assert _send([short, Restriction("mute", None, "")]) == Refusal("muted", until=None)


def test_send_ban_beats_mute_and_indefinite_ban() -> None:
    ban = Restriction("ban", None, "")
    assert _send([Restriction("mute", 2000.0, ""), ban]) == Refusal("banned", until=None)
    assert _send([ban], now=1e12) == Refusal("banned", until=None)
    assert _send([Restriction("ban", 1200.0, "")]) == Refusal("banned", until=1200.0)


def test_kick_is_not_a_send_refusal() -> None:
    # A kicked member has left the room; the gateway refuses their sends as not joined.
    assert _send([Restriction("kick", 2000.0, "")]) is None


def test_locked_room_refuses_members_not_staff() -> None:
    assert _send([], locked=True) == Refusal("locked")
    assert _send([], locked=True, staff=True) is None


def test_staff_are_not_exempt_from_mute_or_ban() -> None:
    assert _send([Restriction("mute", None, "")], locked=True, staff=True) == Refusal("muted")
    assert _send([Restriction("ban", 5000.0, "")], staff=True) == Refusal("banned", until=5000.0)


def test_mute_is_reported_before_lock() -> None:
    assert _send([Restriction("mute", 1100.0, "")], locked=True) == Refusal("muted", until=1100.0)


def test_slow_mode_retry_after() -> None:
    assert _send([], slow_mode_s=30, last_post_at=990.0, now=1000.0) == Refusal(
        "slow_mode", retry_after_s=20.0
    )
    assert _send([], slow_mode_s=30, last_post_at=970.0, now=999.5) == Refusal(
        "slow_mode", retry_after_s=0.5
    )
    assert _send([], slow_mode_s=30, last_post_at=970.0, now=1000.0) is None  # boundary
    assert _send([], slow_mode_s=30, last_post_at=None, now=1000.0) is None  # first post
    assert _send([], slow_mode_s=0, last_post_at=999.9, now=1000.0) is None  # off


def test_slow_mode_wait_never_exceeds_the_interval_when_the_clock_steps_back() -> None:
    assert _send([], slow_mode_s=30, last_post_at=1100.0, now=1000.0) == Refusal(
        "slow_mode", retry_after_s=30.0
    )


def test_staff_are_exempt_from_slow_mode() -> None:
    assert _send([], slow_mode_s=30, last_post_at=999.0, staff=True) is None


def test_lock_is_reported_before_slow_mode() -> None:
    assert _send([], locked=True, slow_mode_s=30, last_post_at=999.0) == Refusal("locked")


def test_send_refusal_accepts_a_one_shot_iterable() -> None:
    gen = (r for r in [Restriction("kick", None, ""), Restriction("mute", 1001.0, "")])
    assert send_refusal(gen, False, 0, None, 1000.0, False) == Refusal("muted", until=1001.0)


def test_join_refusal() -> None:
    now = 1000.0
    assert join_refusal([], now) is None
    assert join_refusal([Restriction("mute", None, "")], now) is None  # muted may still read
    assert join_refusal([Restriction("kick", 1300.0, "")], now) == Refusal("kicked", until=1300.0)
    assert join_refusal([Restriction("kick", 1300.0, "")], 1300.0) is None  # boundary
    assert join_refusal(
        [Restriction("kick", 1300.0, ""), Restriction("kick", 1100.0, "")], now
    ) == Refusal("kicked", until=1300.0)
    assert join_refusal(
        [Restriction("kick", 1300.0, ""), Restriction("ban", None, "")], now
    ) == Refusal("banned", until=None)
    assert join_refusal([Restriction("ban", None, "")], 1e12) == Refusal("banned", until=None)
    assert join_refusal([Restriction("ban", 1000.0, "")], now) is None  # expired ban
