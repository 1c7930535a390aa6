"""Pure domain rules: no processes, no clock (time is passed in)."""

from __future__ import annotations

import random

import pytest

from rooms import catalog, handles, messages
from rooms.access import can_join, can_see
from rooms.errors import BadFrame, BodyInvalid
from rooms.model import Community, Member
from rooms.ratelimit import Strikes, TokenBucket
from rooms.roles import Role
from rooms.sequence import Overflow, Sequencer


@pytest.mark.parametrize("handle", ["maple", "Hopeful_Heron", "sun.rise-7", "abc", "x" * 32, "Paola", "mulgmxexugdd"])
def test_good_handles(handle: str) -> None:
    assert handles.validate(handle) == handle


@pytest.mark.parametrize(
    ("handle", "why"),
    [
        ("ab", "3 to 32"),
        ("x" * 33, "3 to 32"),
        ("jane@example.org", "email"),
        ("jane.doe.com", "email"),
        ("jane.gmail.com", "email"),
        ("555-123-4567", "phone"),
        ("call5551234", "phone"),
        ("has space", "letters"),
        ("-dash", "letters"),
        ("Admin", "reserved"),
    ],
)
def test_bad_handles(handle: str, why: str) -> None:
    with pytest.raises(handles.HandleRejected, match=why):
        handles.validate(handle)


def test_handle_uniqueness_is_case_insensitive() -> None:
    assert handles.normalize(" Maple ") == handles.normalize("mAPLE")


def test_token_bucket_allows_burst_then_refills() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(1.0)
    assert not bucket.take(0.5)
    assert bucket.take(1.0)
    assert bucket.take(100.0) and bucket.take(100.0) and bucket.take(100.0)
    assert not bucket.take(100.0)  # never more than the burst


def test_strikes() -> None:
    strikes = Strikes(limit=2)
    assert not strikes.strike()
    strikes.clear()
    assert not strikes.strike()
    assert strikes.strike()


def test_rate_limited_strikes_only_a_client_that_did_not_wait() -> None:
    strikes = Strikes(limit=3)
    # Obeying: each send comes once the wait it was told has passed (or a hair before it).
    now = 100.0
    for _ in range(20):
        assert not strikes.rate_limited(now, 2.0)
        now += 2.0 - 0.01
    assert strikes.count == 0
    # Pushing: sends before the wait has passed are strikes, and the third closes.
    assert not strikes.rate_limited(now, 2.0)  # waited: refused, not struck
    assert not strikes.rate_limited(now + 0.1, 2.0)
    assert not strikes.rate_limited(now + 0.2, 2.0)
    assert strikes.count == 2
    assert strikes.rate_limited(now + 0.3, 2.0)


def test_sequencer_orders_and_dedupes() -> None:
    seq: Sequencer[str] = Sequencer(last=10)
    assert seq.offer(10, "old") == []
    assert seq.offer(12, "b") == []
    assert seq.missing() == (11, 11)
    assert seq.offer(13, "c") == []
    assert seq.offer(12, "b-again") == []
    assert seq.offer(11, "a") == [(11, "a"), (12, "b"), (13, "c")]
    assert seq.missing() is None
    assert seq.offer(14, "d") == [(14, "d")]


@pytest.mark.parametrize("seed", range(20))
def test_sequencer_next_in_line_releases_as_offer_does(seed: int) -> None:
    # The hub's way (next_in_line first, offer when it declines) against offer alone, on
    # arrivals in order, late, early, duplicated: the same items released in the same order.
    rnd = random.Random(seed)
    arrivals = [s for s in range(1, 60) for _ in range(rnd.choice([1, 1, 1, 2]))]
    for _ in range(15):  # some out of order
        i, j = rnd.randrange(len(arrivals)), rnd.randrange(len(arrivals))
        arrivals[i], arrivals[j] = arrivals[j], arrivals[i]
    alone: Sequencer[str] = Sequencer(last=0)
    hub: Sequencer[str] = Sequencer(last=0)
    released_alone: list[tuple[int, str]] = []
    released_hub: list[tuple[int, str]] = []
    for s in arrivals:
        released_alone += alone.offer(s, f"m{s}")
        if hub.next_in_line(s):
            released_hub.append((s, f"m{s}"))
        else:
            released_hub += hub.offer(s, f"m{s}")
        assert (hub.last, hub.held, hub.missing()) == (alone.last, alone.held, alone.missing())
    assert released_hub == released_alone
    assert [s for s, _ in released_hub] == list(range(1, 60))


def test_sequencer_skip_and_overflow() -> None:
    seq: Sequencer[str] = Sequencer(last=0, max_held=2)
    seq.offer(5, "e")
    seq.offer(6, "f")
    with pytest.raises(Overflow):
        seq.offer(7, "g")
    assert seq.skip_to(4) == [(5, "e"), (6, "f")]
    assert seq.last == 6


def _member(org: int | None, role: Role = Role.MEMBER) -> Member:
    return Member(id="u1", handle="maple", role=role, org_id=org)


def test_access_national_and_local() -> None:
    national = Community("lung-cancer", "Lung cancer", "cancer_type", "")
    local_a = Community("a-lounge", "A lounge", "local", "", org_id=1)
    assert can_see(_member(1), national) and can_see(_member(2), national)
    assert can_join(_member(1), local_a)
    assert not can_see(_member(2), local_a) and not can_join(_member(2), local_a)
    assert can_see(_member(2, Role.ADMIN), local_a)
    assert not can_see(_member(2, Role.NAVIGATOR), local_a)


def test_roles_rank_in_order() -> None:
    ranks = [r.rank for r in (Role.MEMBER, Role.EXPERT, Role.NAVIGATOR, Role.ORG_ADMIN, Role.ADMIN)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5
    with pytest.raises(ValueError, match="expected one of"):
        Role.parse("boss")


def test_member_public_view_has_no_private_fields() -> None:
    assert set(_member(1).public()) == {"id", "handle", "role"}


def test_catalog_ships_enough_rooms() -> None:
    shipped = catalog.load()
    kinds = [c.kind for c in shipped.communities]
    assert len(shipped.communities) >= 60
    assert kinds.count("cancer_type") >= 40 and kinds.count("supportive_care") >= 15
    slugs = {c.slug for c in shipped.communities}
    for needed in ("breast-cancer", "prostate-cancer", "lung-cancer", "caregivers", "newly-diagnosed"):
        assert needed in slugs
    assert shipped.local_rooms
    lounge = shipped.local_rooms[0].for_org("riverside", "Riverside")
    assert lounge.slug.startswith("riverside-") and "Riverside" in lounge.name


def test_catalog_rejects_duplicates() -> None:
    entry = {"slug": "same", "name": "Same", "kind": "cancer_type"}
    with pytest.raises(ValueError, match="duplicate"):
        catalog.parse({"community": [entry, entry]})
    with pytest.raises(ValueError, match="unknown kind"):
        catalog.parse({"community": [{**entry, "kind": "other"}]})


def test_slugify() -> None:
    assert catalog.slugify("St. Mary's Hospital") == "st-mary-s-hospital"
    assert catalog.slugify("!!!") == "org"


def test_message_rules() -> None:
    assert messages.clean_body("hi  \n", 10) == "hi"
    with pytest.raises(BodyInvalid):
        messages.clean_body("   ", 10)
    with pytest.raises(BodyInvalid):
        messages.clean_body("x" * 11, 10)
    with pytest.raises(BadFrame):
        messages.check_cid("has space")
    with pytest.raises(BadFrame):
        messages.check_message_id("not-an-id")
    assert messages.check_message_id("a" * 32) == "a" * 32
