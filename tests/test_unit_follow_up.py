"""The checks after a post run in a task only when there is work, and never skip any (issue 18).

The predicates (``SafetyDesk.needs_after_post``, ``Notifier.needs_on_post``) are held to two
things: their answer for each kind of post, and agreement with the work itself (a post they
call idle must not reach the database, the duty roster or the author; one they call busy
must). ``FollowUp`` is held to creating a task exactly when a predicate says so. The
end-to-end proof that alerts and notifications still arrive, in both modes, is in
tests/test_safety_alerts.py, tests/test_notifications.py and tests/test_redteam_social_notify.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from chat_server.follow_up import FollowUp, Tell
from chat_server.moderation.safety import SafetyDesk
from chat_server.protocol.base import ServerFrame
from chat_server.social.notifier import Notifier
from rooms.model import Member, Role
from rooms.safety import CrisisMatcher

AUTHOR = Member("u-author", "Robin_R", Role.MEMBER, 1, 1)

CRISIS = ["Some days I just want to end it all.", "Honestly I have nothing to live for anymore."]
NOT_CRISIS = ["See you all on Thursday!", "I'm dying to know how your results came out!",
              "I overdosed on kindness at the bake sale.", ""]

# (body, fresh, reply_to, needs notifications)
NOTIFY_CASES: list[tuple[str, bool, str | None, bool]] = [
    ("hello @sam, welcome", True, None, True),
    ("@sam", True, None, True),
    ("thanks, see you", True, "m" * 32, True),  # a reply, no mention
    ("thanks @sam", False, None, False),  # a retried send: told the first time
    ("thanks", False, "m" * 32, False),
    ("plain words", True, None, False),
    ("write to robin@example.org", True, None, False),  # an email address mentions nobody
    ("me, @robin_r, again", True, None, False),  # oneself only
    ("me @Robin_R and @ab", True, None, False),  # oneself, and a handle too short to be one
    ("a lone @ sign", True, None, False),
]


class _Touched(Exception):
    """Raised by the fakes below the predicates: the work reached them."""


def _db() -> Any:
    raise _Touched("database")


class _Broker:
    async def publish_control(self, data: bytes) -> None:
        raise _Touched("broker")

    async def find_recent(self, room: str, message_id: str) -> bytes | None:
        raise _Touched("broker")


def _desk(on_duty: list[str]) -> SafetyDesk:
    async def on_duty_for(room: str, author_id: str, org_id: int | None) -> bool:
        on_duty.append(room)
        return True

    return SafetyDesk(cast(Any, _db), cast(Any, _Broker()), CrisisMatcher.load(), on_duty_for)


@pytest.fixture(scope="module")
def desk() -> SafetyDesk:
    return _desk([])


@pytest.mark.parametrize("body", CRISIS)
def test_a_crisis_message_needs_the_safety_desk(desk: SafetyDesk, body: str) -> None:
    assert desk.needs_after_post(body)


@pytest.mark.parametrize("body", NOT_CRISIS)
def test_everyday_talk_does_not_need_the_safety_desk(desk: SafetyDesk, body: str) -> None:
    assert not desk.needs_after_post(body)


@pytest.mark.parametrize("body", CRISIS + NOT_CRISIS)
@pytest.mark.parametrize("fresh", [True, False])
async def test_the_safety_desk_works_exactly_when_its_predicate_says_so(body: str, fresh: bool) -> None:
    on_duty: list[str] = []
    told: list[ServerFrame] = []
    await _desk(on_duty).after_post(AUTHOR, "lounge", "m" * 32, body, fresh, told.append)
    worked = bool(on_duty or told)
    assert worked == _desk([]).needs_after_post(body)
    # A retried send is shown the resources again (so the predicate ignores ``fresh``).
    assert [f.TYPE for f in told] == (["resources"] if worked else [])


@pytest.mark.parametrize(("body", "fresh", "reply_to", "needs"), NOTIFY_CASES)
def test_notifications_are_needed_for_a_mention_or_a_reply(
        body: str, fresh: bool, reply_to: str | None, needs: bool) -> None:
    assert Notifier.needs_on_post(AUTHOR, body, fresh, reply_to) is needs


@pytest.mark.parametrize(("body", "fresh", "reply_to", "needs"), NOTIFY_CASES)
async def test_the_notifier_works_exactly_when_its_predicate_says_so(
        body: str, fresh: bool, reply_to: str | None, needs: bool, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(cast(Any, _db), cast(Any, None), cast(Any, _Broker()))
    await notifier.on_post(AUTHOR, "lounge", "m" * 32, body, fresh, reply_to)  # never raises: it logs
    touched = any(r.exc_info and isinstance(r.exc_info[1], _Touched) for r in caplog.records)
    assert touched is needs


class _Safety:
    def __init__(self, needs: bool, calls: list[str]) -> None:
        self.needs, self.calls = needs, calls

    def needs_after_post(self, body: str) -> bool:
        return self.needs

    async def after_post(self, author: Member, room: str, message_id: str, body: str, fresh: bool,
                         tell: Tell) -> None:
        self.calls.append("safety")


class _Notify:
    def __init__(self, needs: bool, calls: list[str]) -> None:
        self.needs, self.calls = needs, calls

    def needs_on_post(self, author: Member, body: str, fresh: bool, reply_to: str | None) -> bool:
        return self.needs

    async def on_post(self, author: Member, room: str, message_id: str, body: str, fresh: bool,
                      reply_to: str | None) -> None:
        self.calls.append("notify")


class _Owner(set[asyncio.Task[None]]):
    """The runtime's set of running checks, counting every task ever put in it."""

    added = 0

    def add(self, task: asyncio.Task[None]) -> None:
        self.added += 1
        super().add(task)


@pytest.mark.parametrize(("safety", "notify"), [(False, False), (True, False), (False, True), (True, True)])
async def test_a_task_only_for_a_post_with_work_and_every_check_still_runs(safety: bool, notify: bool) -> None:
    calls: list[str] = []

    def conversation(author: Member, room: str, message_id: str, seq: int, fresh: bool) -> None:
        calls.append("conversation")

    owner = _Owner()
    follow = FollowUp(_Safety(safety, calls), _Notify(notify, calls), conversation, owner)
    work = follow(AUTHOR, "lounge", "m" * 32, 7, "body", True, lambda frame: None, None)
    busy = safety or notify
    # Nothing to await (no coroutine at all) for a post that needs no check.
    assert (work is not None) is busy
    if work is not None:
        await work
    assert owner.added == (1 if busy else 0)
    assert not owner  # done and discarded
    # The task runs all three in their order; without one, the conversations' activity alone.
    assert calls == (["safety", "notify", "conversation"] if busy else ["conversation"])
