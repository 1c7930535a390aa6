"""The pure rules of private conversations (rooms/conversations.py): who may write first, for
every setting and every sender class (the whole table, written out here independently of the
code), the sender's class from the facts, starting, joining and posting in each state."""

from __future__ import annotations

import itertools

import pytest

from rooms import access
from rooms import conversations as rules
from rooms.conversations import Allow, Sender, State, Verdict
from rooms.errors import BadFrame, NoSuchRoom
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.roles import Role

D, R, X = Verdict.DIRECT, Verdict.REQUEST, Verdict.REFUSED

# Rows: sender classes; columns: nobody, staff, friends, communities.
EXPECTED: dict[Sender, tuple[Verdict, Verdict, Verdict, Verdict]] = {
    Sender.STRANGER: (X, X, X, X),
    Sender.COMMUNITY_MEMBER: (X, X, X, R),
    Sender.FRIEND: (X, X, D, D),
    Sender.OTHER_STAFF: (X, R, R, R),
    Sender.STAFF: (D, D, D, D),
    Sender.BLOCKED: (X, X, X, X),
}
COLUMNS = (Allow.NOBODY, Allow.STAFF, Allow.FRIENDS, Allow.COMMUNITIES)


def test_the_table_covers_every_class_and_setting() -> None:
    assert set(EXPECTED) == set(Sender) and set(COLUMNS) == set(Allow)


@pytest.mark.parametrize(("sender", "allow"), list(itertools.product(Sender, Allow)))
def test_first_message(sender: Sender, allow: Allow) -> None:
    assert rules.first_message(allow, sender) is EXPECTED[sender][COLUMNS.index(allow)]


def test_the_default_is_friends_and_staff() -> None:
    assert rules.DEFAULT_ALLOW is Allow.FRIENDS
    allowed = {s for s in Sender if rules.first_message(rules.DEFAULT_ALLOW, s) is not Verdict.REFUSED}
    assert allowed == {Sender.FRIEND, Sender.STAFF, Sender.OTHER_STAFF}


def test_staff_of_ones_rooms_may_always_write_and_a_block_always_refuses() -> None:
    assert all(rules.first_message(a, Sender.STAFF) is Verdict.DIRECT for a in Allow)
    assert all(rules.first_message(a, Sender.BLOCKED) is Verdict.REFUSED for a in Allow)


@pytest.mark.parametrize("facts", list(itertools.product((False, True), repeat=5)))
def test_classify_takes_the_most_decisive_fact(facts: tuple[bool, bool, bool, bool, bool]) -> None:
    blocked, staff, other_staff, friend, shares = facts
    got = rules.classify(blocked=blocked, staff=staff, other_staff=other_staff, friend=friend,
                         shares_community=shares)
    order = [(blocked, Sender.BLOCKED), (staff, Sender.STAFF), (other_staff, Sender.OTHER_STAFF),
             (friend, Sender.FRIEND), (shares, Sender.COMMUNITY_MEMBER)]
    assert got is next((s for flag, s in order if flag), Sender.STRANGER)


def test_allow_parse() -> None:
    assert Allow.parse("communities") is Allow.COMMUNITIES
    with pytest.raises(BadFrame, match="nobody, staff, friends, communities"):
        Allow.parse("everyone")


MEMBER = Member("u" + "1" * 16, "maple", Role.MEMBER, 1, 1)
NAVIGATOR = Member("u" + "2" * 16, "heron", Role.NAVIGATOR, 1, 2)
OTHERS = ["u" + f"{i:016x}" for i in range(3, 12)]


def test_check_start() -> None:
    assert rules.check_start(MEMBER, OTHERS[:1]) == OTHERS[:1]
    assert rules.check_start(NAVIGATOR, OTHERS[:7]) == OTHERS[:7]
    for starter, others, words in [
        (MEMBER, [], "at least one"),
        (MEMBER, [MEMBER.id], "yourself"),
        (NAVIGATOR, [OTHERS[0], OTHERS[0]], "twice"),
        (MEMBER, OTHERS[:2], "only staff start groups"),
        (NAVIGATOR, OTHERS[:8], "at most 8"),
    ]:
        with pytest.raises(BadFrame, match=words):
            rules.check_start(starter, others)


def test_join_by_state() -> None:
    for state, requester, made in itertools.product(State, (False, True), (False, True)):
        if state is State.OPEN or requester:
            rules.check_join(state, requester, made)
        elif state is State.REQUEST and made:
            with pytest.raises(rules.RequestPending):
                rules.check_join(state, requester, made)
        else:
            # A request nobody wrote in, or a declined one: to the recipient, no such room.
            with pytest.raises(NoSuchRoom):
                rules.check_join(state, requester, made)


def test_post_by_state() -> None:
    rules.check_post(State.OPEN, False, 0, blocked=False)
    rules.check_post(State.REQUEST, True, rules.MAX_HELD - 1, blocked=False)
    with pytest.raises(rules.RequestPending):
        rules.check_post(State.REQUEST, True, rules.MAX_HELD, blocked=False)
    with pytest.raises(rules.RequestPending):
        rules.check_post(State.REQUEST, False, 0, blocked=False)
    for state in State:
        with pytest.raises(rules.ConversationClosed):
            rules.check_post(state, True, 0, blocked=True)
    with pytest.raises(rules.ConversationClosed):
        rules.check_post(State.DECLINED, True, 0, blocked=False)


def test_listed_and_readable() -> None:
    assert rules.listed(State.OPEN, False, False) and rules.may_read(State.OPEN, False)
    assert rules.listed(State.REQUEST, True, False) and rules.may_read(State.REQUEST, True)
    assert not rules.listed(State.REQUEST, False, False)
    assert rules.listed(State.REQUEST, False, True) and not rules.may_read(State.REQUEST, False)
    assert not rules.listed(State.DECLINED, False, True) and not rules.may_read(State.DECLINED, False)
    assert rules.listed(State.DECLINED, True, True) and rules.may_read(State.DECLINED, True)


def test_a_conversation_room_is_nobodys_by_the_room_rules() -> None:
    room = Community(rules.room_of("0" * 16), rules.ROOM_NAME, rules.DM_KIND, "", None)
    admin = Member("u" + "9" * 16, "root", Role.ADMIN, 1, 9)
    assert rules.is_room(room.slug) and not rules.is_room("dm-lounge") and not rules.is_room("dm-" + "0" * 16 + "-x")
    for who in (MEMBER, NAVIGATOR, admin):
        assert not access.can_see(who, room) and not access.can_join(who, room)
        assert not may_moderate_room(who, room, frozenset({"*", room.slug}))


def test_staff_of_a_members_rooms() -> None:
    national = Community("breast-cancer", "Breast cancer", "cancer", "", None)
    local = Community("", "", "local", "", 1)
    assert rules.staff_of(NAVIGATOR, frozenset(), [local])  # their own organization's member
    assert not rules.staff_of(NAVIGATOR, frozenset(), [national])
    assert rules.staff_of(NAVIGATOR, frozenset({"breast-cancer"}), [national])
    other_org = Member("u" + "3" * 16, "ash", Role.NAVIGATOR, 2, 3)
    assert not rules.staff_of(other_org, frozenset(), [local, national])
    assert not rules.staff_of(MEMBER, frozenset({"*"}), [local, national])
