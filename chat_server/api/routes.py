"""The HTTP API's routes in one table: what app.py mounts and what the OpenAPI document
(openapi.py) describes, so the two cannot drift. Each entry names the model its handler
validates the request body with (``parse_body``) and the query parameters it reads;
tests/test_openapi.py checks both against the handlers' source."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from chat_server.api import (
    accounts,
    calendar,
    communities,
    conversations,
    following,
    friends,
    history,
    moderation,
    notifications,
    passwords,
    people,
    questions,
    reactions,
    sessions,
    talks,
)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: str  # "integer" or "string"
    about: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    method: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    signed_in: bool = True


_PAGE = (Query("before", "integer", "the previous page's next_before"),
         Query("limit", "integer", "entries per page, at most 200"))

_QUESTIONS = (Query("status", "string", "pending, open, answered or dismissed"),
              Query("order", "string", "votes (default) or recent"),
              Query("offset", "integer", "questions to skip"),
              Query("limit", "integer", "questions, at most 200"))

API: tuple[Endpoint, ...] = (
    Endpoint("/api/register", "POST", accounts.register, "Create an account with an "
             "organization's key phrase", accounts.RegisterIn, signed_in=False),
    Endpoint("/api/session", "POST", accounts.open_session, "Sign in", accounts.SessionIn,
             signed_in=False),
    Endpoint("/api/session", "DELETE", accounts.close_session, "Sign out"),
    Endpoint("/api/me", "GET", accounts.me, "The signed-in member"),
    Endpoint("/api/password", "POST", passwords.change, "Change one's password", passwords.ChangeIn),
    Endpoint("/api/password/reset", "POST", passwords.reset, "Set a new password with a reset "
             "code", passwords.ResetIn, signed_in=False),
    Endpoint("/api/users/{id}/reset-code", "POST", passwords.issue_code,
             "Issue a one-time reset code for a member (staff)"),
    Endpoint("/api/communities", "GET", communities.list_communities, "Rooms open to the member"),
    Endpoint("/api/communities/{slug}", "GET", communities.get_community, "One room"),
    Endpoint("/api/rooms/{slug}/messages", "GET", history.room_messages,
             "A page of a room's history, newest first", query=_PAGE),
    Endpoint("/api/messages/{id}/thread", "GET", history.thread, "A thread, oldest first"),
    Endpoint("/api/search", "GET", history.search, "Search the rooms open to the member", query=(
        Query("q", "string", "words to find"), Query("room", "string", "one room's slug"),
        Query("limit", "integer", "results, at most 100"),
        Query("offset", "integer", "results to skip, at most 10,000"),
    )),
    Endpoint("/api/rooms/{slug}/moderation", "POST", moderation.act, "Take a moderation action",
             moderation.ModerateIn),
    Endpoint("/api/rooms/{slug}/moderation", "GET", moderation.room_overview,
             "A room's state and restrictions in force (staff)"),
    Endpoint("/api/moderation/queue", "GET", moderation.queue, "The safety queue (staff)", query=(
        Query("room", "string", "one room's slug"),
        Query("status", "string", "open (default) or resolved"),
        Query("limit", "integer", "items, at most 200"),
    )),
    Endpoint("/api/moderation/queue/{id}/resolve", "POST", moderation.resolve,
             "Resolve a queue item (staff)", moderation.ResolveIn),
    Endpoint("/api/moderation/audit", "GET", moderation.audit_log, "The audit log (staff)",
             query=(Query("room", "string", "one room's slug"), *_PAGE)),
    Endpoint("/api/messages/{id}/report", "POST", moderation.report, "Report a message",
             moderation.ReportIn),
    Endpoint("/api/blocks", "GET", moderation.blocks, "Members one blocked"),
    Endpoint("/api/blocks/{user}", "PUT", moderation.set_block, "Block a member"),
    Endpoint("/api/blocks/{user}", "DELETE", moderation.set_block, "Unblock a member"),
    # Scheduled sessions, calendars and notifications (docs/protocol.md, the sessions HTTP API).
    Endpoint("/api/events", "POST", sessions.create, "Schedule a session (staff)", sessions.EventIn),
    Endpoint("/api/events", "GET", sessions.list_events, "Sessions by start", query=(
        Query("from", "string", "ISO 8601 time with an offset: starting at or after"),
        Query("to", "string", "ISO 8601 time with an offset: starting before"),
        Query("room", "string", "one community's slug"),
        Query("kind", "string", "drop_in or webinar"),
        Query("after", "string", "the previous page's next"),
        Query("limit", "integer", "sessions per page, at most 200"),
    )),
    Endpoint("/api/events/{id}", "GET", sessions.get_event, "One session"),
    Endpoint("/api/events/{id}", "PATCH", sessions.patch_event, "Edit a session (hosts, staff)",
             sessions.EventPatch),
    Endpoint("/api/events/{id}/cancel", "POST", sessions.cancel, "Cancel a session",
             sessions.CancelIn),
    Endpoint("/api/events/{id}/state", "POST", sessions.set_state, "Change a session's state "
             "(hosts, staff)", sessions.StateIn),
    Endpoint("/api/events/{id}/signup", "PUT", sessions.signup, "Sign up, or join the waiting list"),
    Endpoint("/api/events/{id}/signup", "DELETE", sessions.signup, "Withdraw a sign-up"),
    Endpoint("/api/events/{id}/admit", "POST", sessions.admit, "Admit a member (hosts, staff)",
             sessions.AdmitIn),
    Endpoint("/api/events/{id}/archive", "GET", sessions.archive, "A session's archive, in seq "
             "order", query=(Query("after", "integer", "the previous page's next_after"),)),
    Endpoint("/api/events/{id}/calendar.ics", "GET", calendar.event_calendar,
             "A session's series as iCalendar"),
    Endpoint("/api/me/events", "GET", sessions.mine, "Sessions one signed up for or hosts",
             query=(Query("limit", "integer", "sessions, at most 500"),)),
    Endpoint("/api/me/calendar", "POST", calendar.make_feed, "A new secret calendar feed URL",
             calendar.FeedIn),
    Endpoint("/api/me/calendar", "DELETE", calendar.revoke_feed, "Stop one's calendar feed"),
    # Reactions (docs/social.md).
    Endpoint("/api/reactions", "GET", reactions.reaction_set, "The reactions one may use"),
    Endpoint("/api/rooms/{slug}/reactions", "POST", reactions.react, "Put or take away a "
             "reaction on a message", reactions.ReactIn),
    # Notifications and unread counts (docs/social.md).
    Endpoint("/api/notifications", "GET", notifications.list_notifications, "One's notifications, "
             "unread first", query=(Query("offset", "integer", "the previous page's next_offset"),
                                    Query("limit", "integer", "entries per page, at most 200"))),
    Endpoint("/api/notifications/read", "POST", notifications.mark_read, "Mark notifications "
             "read (some, or all)", notifications.ReadIn),
    Endpoint("/api/notifications/settings", "GET", notifications.get_settings, "Kinds muted and "
             "the email digest"),
    Endpoint("/api/notifications/settings", "PUT", notifications.put_settings, "Mute kinds, "
             "choose the email digest", notifications.SettingsIn),
    Endpoint("/api/me/unread", "GET", notifications.my_unread, "Unread notifications and new "
             "messages per room and conversation, with the read marks and seqs they took in"),
    Endpoint("/api/rooms/{slug}/read", "POST", notifications.room_read, "Mark a room seen up to "
             "a seq", notifications.RoomReadIn),
    # Private conversations (docs/social.md, "Private messages").
    Endpoint("/api/conversations", "POST", conversations.start, "Start a private conversation, "
             "or get the one with that member", conversations.StartIn),
    Endpoint("/api/conversations", "GET", conversations.mine, "One's conversations and requests"),
    Endpoint("/api/conversations/{id}", "GET", conversations.one, "One conversation (a request: "
             "its first message)"),
    Endpoint("/api/conversations/{id}/accept", "POST", conversations.accept, "Accept a request"),
    Endpoint("/api/conversations/{id}/decline", "POST", conversations.decline, "Decline a request"),
    Endpoint("/api/me/dm", "GET", conversations.get_allow, "Who may write to one first"),
    Endpoint("/api/me/dm", "PUT", conversations.put_allow, "Choose who may write to one first",
             conversations.AllowIn),
    # Friends, following, the feed and profiles (docs/social.md).
    Endpoint("/api/friends", "GET", friends.list_friends, "One's friends, and friend requests "
             "in and out"),
    Endpoint("/api/friends/{user}", "PUT", friends.set_friend, "Ask a member to be friends, or "
             "accept their request"),
    Endpoint("/api/friends/{user}", "DELETE", friends.set_friend, "Decline a friend request, "
             "cancel one's own, or unfriend"),
    Endpoint("/api/following", "GET", following.list_following, "Whom one follows, and who "
             "follows one"),
    Endpoint("/api/following/{user}", "PUT", following.set_following, "Follow a member"),
    Endpoint("/api/following/{user}", "DELETE", following.set_following, "Stop following a member"),
    Endpoint("/api/feed", "GET", following.feed, "Recent activity of the people one follows, "
             "in rooms one can join", query=(
                 Query("before", "string", "the previous page's next"),
                 Query("limit", "integer", "entries per page, at most 100"))),
    Endpoint("/api/people/settings", "GET", people.get_settings, "Whether one takes friend "
             "requests and can be followed"),
    Endpoint("/api/people/settings", "PUT", people.put_settings, "Take friend requests or not, "
             "be followed or not", people.PeopleSettingsIn),
    Endpoint("/api/people/{user}", "GET", people.profile, "A member's profile as one sees it"),
    # A private talk with the navigator on duty (docs/social.md).
    Endpoint("/api/talks", "GET", talks.overview, "One's waiting request to talk privately with "
             "a navigator, and (staff) the requests one may take"),
    Endpoint("/api/talks", "POST", talks.ask, "Ask to talk privately with a navigator, from a "
             "room", talks.TalkIn),
    Endpoint("/api/talks/{id}", "DELETE", talks.cancel, "Withdraw one's request"),
    Endpoint("/api/talks/{id}/accept", "POST", talks.accept, "Take a request (staff of its room)"),
    # Questions to experts (docs/questions.md).
    Endpoint("/api/events/{id}/questions", "POST", questions.ask, "Ask a session's hosts",
             questions.AskIn),
    Endpoint("/api/events/{id}/questions", "GET", questions.list_questions, "A session's "
             "questions", query=_QUESTIONS),
    Endpoint("/api/events/{id}/questions/settings", "PUT", questions.settings, "Questions "
             "approved before shown, or not (hosts, staff)", questions.SettingsIn),
    Endpoint("/api/questions/{id}/vote", "PUT", questions.vote, "Vote for a question"),
    Endpoint("/api/questions/{id}/vote", "DELETE", questions.vote, "Withdraw one's vote"),
    Endpoint("/api/questions/{id}/action", "POST", questions.act, "A host's action on a "
             "question (hosts, staff)", questions.ActionIn),
    Endpoint("/api/questions/{id}/reveal", "POST", questions.reveal, "Who asked an anonymous "
             "question (hosts, staff; audited)"),
    Endpoint("/api/ask-the-expert", "POST", questions.open_topic, "Open an Ask the Expert topic "
             "(staff)", questions.TopicIn),
    Endpoint("/api/ask-the-expert", "GET", questions.list_topics, "Ask the Expert topics, "
             "newest first", query=(
                 Query("room", "string", "one community's slug"),
                 Query("q", "string", "words to find"),
                 Query("limit", "integer", "topics, at most 200"),
             )),
    Endpoint("/api/ask-the-expert/{id}", "GET", questions.get_topic, "One Ask the Expert topic"),
    Endpoint("/api/ask-the-expert/{id}/questions", "POST", questions.ask, "Ask the experts",
             questions.AskIn),
    Endpoint("/api/ask-the-expert/{id}/questions", "GET", questions.list_questions,
             "A topic's questions", query=_QUESTIONS),
)
