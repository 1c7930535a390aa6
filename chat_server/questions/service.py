"""Asking, voting, hosts' actions and lists: what the HTTP API and the socket frames call.

Rules come from the domain (``rooms.questions``); refusals are ``RoomError``s. Every change is
committed first, then told to every gateway on the control channel (``op: "question"``), where
``chat_server.questions.fanout`` delivers it to the members who may see it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.limits import FailureCounter
from chat_server.protocol import control
from chat_server.protocol.control import QuestionChanged
from chat_server.questions.venues import Venue, load, read
from chat_server.questions.views import question_frame, question_view, venue_fields
from chat_server.questions.vote_facts import SharedReads
from persistence import moderation as audit_store
from persistence import notifications, topics
from persistence import questions as store
from persistence.question_models import QuestionRow
from persistence.question_votes import DATABASE_FAILURES, Outcome, Vote, VoteWrites
from persistence.questions import Stored
from rooms import ids, messages, safety
from rooms.access import can_see
from rooms.errors import NotFound, RateLimited, RoomError, Unavailable
from rooms.model import Member
from rooms.questions import (
    ALREADY_VOTED,
    NOT_OPEN,
    NOT_VOTED,
    NoSuchQuestion,
    NotQuestionHost,
    QuestionAction,
    QuestionActionRefused,
    QuestionStatus,
    VoteRefused,
    apply_action,
    check_vote,
    initial_status,
    public_author,
    reveal_author,
    visible_to,
)

log = logging.getLogger(__name__)

# The safety desk's check of a new question (``SafetyDesk.after_question``): (author, the
# venue's community, question id, venue fields, the author as shown, body) -> the crisis
# resources to show the asker, or None.
AfterQuestion = Callable[
    [Member, str, str, dict[str, str], dict[str, Any], str], Awaitable[dict[str, Any] | None]
]
_PUBLIC = (QuestionStatus.OPEN, QuestionStatus.ANSWERED)
# Votes writing at once on a gateway, on PostgreSQL (SQLite's go together in one commit). With
# their question read once for all of them, a storm's votes all reach their write together;
# past the database pool's connections they only wait for one, each having armed the pool's
# timeout, hundreds in one turn of the loop (loop lag p99 4 -> 30-44 ms in a storm of 1,000).
# Waiting here first costs nothing.
VOTE_WRITES_AT_ONCE = 8
_PHI_WORDS = {"phone": "a phone number", "email": "an email address", "address": "a street address",
              "birth_date": "a date of birth"}


class ConfirmPersonal(RoomError):
    """The question seems to hold personal details: asked again with ``confirm_phi`` it is posted."""

    code = "confirm_phi"
    http_status = 409

    def __init__(self, kinds: list[str]) -> None:
        words = ", ".join(_PHI_WORDS[k] for k in kinds)
        super().__init__(
            f"This question seems to contain {words}. Everyone at the session can read it once it "
            "is approved. To ask it anyway, send it again with confirm_phi set."
        )
        self.kinds = kinds

    def fields(self) -> dict[str, object]:
        return {"kinds": self.kinds}


@dataclass(frozen=True, slots=True)
class Who:
    member: Member
    assigned: frozenset[str]


def _seen_by(found: tuple[Stored, Venue] | None, who: Who) -> tuple[Stored, Venue]:
    """The question and its venue if ``who`` may see them; ``NoSuchQuestion`` otherwise."""
    if found is None or not can_see(who.member, found[1].community):
        raise NoSuchQuestion("no such question")
    if not visible_to(found[0].question, who.member.id, found[1].manages(who.member, who.assigned)):
        raise NoSuchQuestion("no such question")
    return found


class Questions:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], votes: VoteWrites, broker: Broker, asked: FailureCounter,
        rate: int, max_body_chars: int, after_question: AfterQuestion, clock: Callable[[], float] = time.time,
        retry_after_s: float = 60.0,
    ) -> None:
        self._db = db
        self._broker = broker
        self._asked = asked
        self._rate = rate
        self._max_body = max_body_chars
        self._after_question = after_question
        self._clock = clock
        # The counter is a window, so its length is when asking is sure to be accepted again.
        self._retry_after_s = retry_after_s
        self._votes = votes
        self._casting: set[asyncio.Task[Outcome]] = set()  # votes being written and told
        # An open question and its venue, read once for the votes that arrive together.
        self._for_votes: SharedReads[tuple[Stored, Venue] | None] = SharedReads(
            self._read_for_vote, lambda found: found is not None and found[0].question.status is QuestionStatus.OPEN,
        )

    async def _venue(self, db: AsyncSession, key: str, who: Who) -> Venue:
        try:
            return await load(db, key, who.member)
        except RoomError:
            raise
        except Exception as exc:
            raise Unavailable("could not look the session up; try again") from exc

    async def _question(self, db: AsyncSession, public_id: str, who: Who) -> tuple[Stored, Venue]:
        return _seen_by(await self._read_question(db, public_id), who)

    async def _read_question(self, db: AsyncSession, public_id: str) -> tuple[Stored, Venue] | None:
        """The question and its venue whoever asks (None: either is not there); ``_seen_by``
        checks the viewer."""
        if not ids.is_question_id(public_id):
            return None  # (PostgreSQL refuses some strings outright, a NUL for one)
        try:
            found = await store.get(db, public_id)
            venue = None if found is None else await read(db, found.question.venue)
        except NotFound:
            return None  # a venue key that is not one: no such question
        except RoomError:
            raise
        except Exception as exc:
            raise Unavailable("could not look the question up; try again") from exc
        return None if found is None or venue is None else (found, venue)

    async def _read_for_vote(self, public_id: str) -> tuple[Stored, Venue] | None:
        async with self._db() as db:
            return await self._read_question(db, public_id)

    # -- asking ------------------------------------------------------------------------------

    async def ask(
        self, who: Who, venue_key: str, body: str, cid: str, anonymous: bool, confirm_phi: bool = False,
    ) -> dict[str, Any]:
        """Post a question (once per ``cid``); the author's view of it, with ``duplicate`` on a
        retry and ``resources`` when it matched the crisis list."""
        messages.check_cid(cid)
        body = messages.clean_body(body, self._max_body)
        if await self._asked.count(who.member.id) >= self._rate:
            # A flood is refused before it costs a database round trip (a retry of a question
            # already stored is refused too while the window lasts: the client has its ack).
            raise RateLimited("you have asked many questions just now; please wait a while",
                              self._retry_after_s)
        now = self._clock()
        async with self._db() as db:
            venue = await self._venue(db, venue_key, who)
            earlier = await store.by_cid(db, who.member.db_id, cid)
            if earlier is not None:
                return {**question_view(earlier, who.member.id, False, False), "duplicate": True}
            venue.check_open(now)
            if not confirm_phi and (kinds := safety.find_phi(body)):
                raise ConfirmPersonal(kinds)
            if await self._asked.add(who.member.id) > self._rate:
                raise RateLimited("you have asked many questions just now; please wait a while",
                              self._retry_after_s)
            row = QuestionRow(
                public_id=store.new_question_id(), venue=venue.key, room=venue.live_room,
                author_id=who.member.db_id, anonymous=anonymous, body=body,
                status=initial_status(venue.moderated).value, cid=cid, created_ms=int(now * 1000),
            )
            item, created = await store.add(db, row)
        view = question_view(item, who.member.id, False, False)
        if not created:
            return {**view, "duplicate": True}
        await self._publish(item, venue, was_public=False)
        # As for messages: never held for it; the navigators are told (queue and on-duty
        # alert) and the author is shown where help is, privately.
        card = await self._after_question(who.member, venue.community.slug, item.question.id,
                                          venue_fields(venue.key), public_author(item.question), body)
        if card is not None:
            view["resources"] = card
        return view

    # -- voting ------------------------------------------------------------------------------

    async def vote(self, who: Who, question_id: str, up: bool) -> dict[str, Any]:
        # What was read may be a second or two old: only its status could have changed since
        # (chat_server/questions/vote_facts.py), and the UPDATE decides that.
        found, venue = _seen_by(await self._for_votes.get(question_id), who)
        check_vote(found.question, who.member.id)
        vote = Vote(found.row.id or 0, who.member.db_id, up, int(self._clock() * 1000))
        # Written and told as one, whether or not the voter is still here for the answer: a
        # voter whose socket closes mid-vote cancels this coroutine, and a vote counted but
        # not told would leave every member's count one short until the next vote.
        casting = asyncio.create_task(self._cast(found, venue, vote), name="question-vote")
        self._casting.add(casting)
        casting.add_done_callback(self._casting.discard)
        outcome = await asyncio.shield(casting)
        if outcome is None:
            # No longer open: refused as a fresh read would have refused it (a member who may
            # not see a dismissed question is told there is no such question).
            self._for_votes.forget(question_id)
            fresh, _ = _seen_by(await self._read_for_vote(question_id), who)
            check_vote(fresh.question, who.member.id)
            raise VoteRefused(NOT_OPEN)
        changed, votes, version, _ = outcome
        if not changed:
            raise VoteRefused(ALREADY_VOTED if up else NOT_VOTED)
        return {"question": question_id, "votes": votes, "voted": up, "version": version}

    async def _cast(self, found: Stored, venue: Venue, vote: Vote) -> Outcome:
        """The vote written and, if it changed the count, told to every gateway."""
        try:
            outcome = await self._votes.cast(vote)
        except DATABASE_FAILURES as exc:
            # The database failed the write (down, full, a lost connection): nothing counted,
            # or, if the connection was lost during the commit, counted once, and a retry is
            # then told the vote is already there. (Anything else is a bug: internal, with
            # its traceback; a vote's parameters are numbers, nothing personal.)
            log.warning("questions: a vote could not be written (%s)", type(exc).__name__)
            raise Unavailable("could not record your vote just now; try again") from exc
        if outcome is not None and outcome[0]:
            await self._publish_votes(found, venue, *outcome[1:])
        return outcome

    async def aclose(self) -> None:
        """At shutdown: the votes under way written and told, then the writes' own."""
        if self._casting:
            await asyncio.wait(set(self._casting), timeout=5.0)
        await self._votes.aclose()

    # -- hosts' actions ----------------------------------------------------------------------

    async def act(
        self, who: Who, question_id: str, action: QuestionAction, answer: str | None = None,
        reason: str | None = None, into: str | None = None,
    ) -> dict[str, Any]:
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            found, venue = await self._question(db, question_id, who)
            if not venue.manages(who.member, who.assigned):
                raise NotQuestionHost("only the session's hosts and the room's staff act on questions")
            if action is QuestionAction.ANSWER and venue.is_topic and not venue.closed_for_questions(now_ms / 1000):
                raise QuestionActionRefused("the expert answers once the topic has closed")
            target = None
            if action is QuestionAction.MERGE:
                target = await store.get(db, into or "") if into and ids.is_question_id(into) else None
                if target is None or target.question.venue != venue.key:
                    raise QuestionActionRefused("merge needs another question of the same session or topic")
            row = await store.lock(db, found.row.id or 0)
            assert row is not None
            current = (await store.stored(db, [row]))[0]
            before = current.question.status
            changed = apply_action(
                current.question, action, actor=who.member, now_ms=now_ms, answer=answer, reason=reason,
                into=None if target is None else target.question,
            )
            await store.save(db, row, changed, who.member.db_id if action is QuestionAction.ANSWER else None)
            unpinned: list[int] = []
            if action is QuestionAction.PIN:
                unpinned = [r.id or 0 for r in await store.unpin_others(db, venue.key, row.id or 0)]
            target_id = None
            if target is not None:
                target_row = await store.lock(db, target.row.id or 0)
                assert target_row is not None
                await store.move_votes(db, row, target_row, now_ms)
                target_id = target_row.id
            await audit_store.audit(
                db, now_ms, who.member.db_id, f"question_{action.value}", venue.community.slug,
                # An anonymous author is not named here: reading the audit log must not
                # reveal them; revealing is its own audited act (``reveal``).
                target_db_id=None if row.anonymous else row.author_id, reason=reason or "",
                detail=f"question {question_id} in {venue.key}" + (f" into {into}" if into else ""),
            )
            notify = None
            if action is QuestionAction.ANSWER and before is not QuestionStatus.ANSWERED:
                text = f"Your question in “{venue.title}” was answered."
                stored = await notifications.add(db, [row.author_id], "answered", venue.public_id, text,
                                                 now_ms, f"answered:{question_id}")
                # Nothing live for an author who muted answers (no row was stored).
                if stored:
                    notify = {"kind": "answered", venue.key.partition(":")[0]: venue.public_id,
                              "question": question_id, "text": text}
            await db.commit()
            after = await store.get(db, question_id)
            assert after is not None
            others = [await store.get_by_row(db, i) for i in [*unpinned, *([target_id] if target_id else [])]]
        await self._publish(after, venue, was_public=before in _PUBLIC, notify=notify)
        for other in others:
            if other is not None:
                await self._publish(other, venue, was_public=other.question.status in _PUBLIC)
        return question_view(after, who.member.id, True, False)

    async def reveal(self, who: Who, question_id: str) -> dict[str, Any]:
        """An anonymous author's identity, for a host or staff member who asks; audited."""
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            found, venue = await self._question(db, question_id, who)
            if not venue.manages(who.member, who.assigned):
                raise NotQuestionHost("only the session's hosts and the room's staff see who asked")
            await audit_store.audit(
                db, now_ms, who.member.db_id, "question_reveal", venue.community.slug,
                target_db_id=found.row.author_id, detail=f"question {question_id} in {venue.key}",
            )
            await db.commit()
        return {"question": question_id, "author": reveal_author(found.question)}

    async def set_moderated(self, who: Who, venue_key: str, moderated: bool) -> dict[str, Any]:
        """A session's hosts turn the moderation queue on or off (new questions only); audited."""
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            venue = await self._venue(db, venue_key, who)
            if venue.is_topic or not venue.manages(who.member, who.assigned):
                raise NotQuestionHost("only the session's hosts and the room's staff change this")
            await topics.set_moderated(db, venue.db_id, moderated)
            await audit_store.audit(db, now_ms, who.member.db_id, "questions_moderated", venue.community.slug,
                                    detail=f"{venue.key}: moderated {'on' if moderated else 'off'}")
            await db.commit()
        return {"moderated": moderated}

    # -- reading -----------------------------------------------------------------------------

    async def listing(
        self, who: Who, venue_key: str, status: str | None, order: str, offset: int, limit: int,
    ) -> dict[str, Any]:
        async with self._db() as db:
            venue = await self._venue(db, venue_key, who)
            manages = venue.manages(who.member, who.assigned)
            statuses = [status] if status else [s.value for s in QuestionStatus if s is not QuestionStatus.DISMISSED]
            found = await store.page(db, venue.key, statuses, who.member.db_id, manages, order, offset, limit + 1)
            mine = await store.voted(db, who.member.db_id, [f.row.id or 0 for f in found[:limit]])
        return {
            "questions": [question_view(f, who.member.id, manages, (f.row.id or 0) in mine) for f in found[:limit]],
            "next_offset": offset + limit if len(found) > limit else None,
            "moderated": venue.moderated, "manages": manages,
        }

    async def answered(self, who: Who, venue_key: str) -> list[dict[str, Any]]:
        """The venue's answered questions with their answers (a session's archive)."""
        async with self._db() as db:
            venue = await self._venue(db, venue_key, who)
            found = await store.answered(db, venue.key)
        return [question_view(f, who.member.id, False, False) for f in found]

    # -- telling every gateway ---------------------------------------------------------------

    async def _publish(self, item: Stored, venue: Venue, was_public: bool, notify: dict[str, Any] | None = None) -> None:
        public = item.question.status in _PUBLIC or was_public
        await self._send(QuestionChanged(
            venue.live_room, item.question.id, item.version, question_frame(item),
            question_frame(item, private=True), public, sorted(venue.hosts | {item.question.author.id}),
            to=[item.question.author.id] if notify is not None else [], notify=notify,
        ))

    async def _publish_votes(self, item: Stored, venue: Venue, votes: int, version: int, pinned: bool) -> None:
        # Read before the vote: only the count, the version and ``pinned`` can have changed
        # since (an open question has no answer; its body never changes), so those are the
        # ones the vote's UPDATE returned.
        frame = question_frame(item)
        frame["votes"], frame["version"], frame["pinned"] = votes, version, pinned
        await self._send(QuestionChanged(
            venue.live_room, item.question.id, version, frame, frame, True, [], votes_only=True,
        ))

    async def _send(self, message: QuestionChanged) -> None:
        try:
            await self._broker.publish_control(control.encode(message))
        except Unavailable:
            # Committed already; members see it in the list (GET) and with the next change.
            log.warning("a question change could not be told to the other gateways")
