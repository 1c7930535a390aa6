"""The routes of scheduled sessions, calendars and notifications (mounted by create_app)."""

from __future__ import annotations

from starlette.routing import Route

from chat_server.api import calendar, notifications, sessions


def session_routes() -> list[Route]:
    return [
        Route("/api/events", sessions.create, methods=["POST"]),
        Route("/api/events", sessions.list_events),
        Route("/api/events/{id}", sessions.get_event),
        Route("/api/events/{id}", sessions.patch_event, methods=["PATCH"]),
        Route("/api/events/{id}/cancel", sessions.cancel, methods=["POST"]),
        Route("/api/events/{id}/state", sessions.set_state, methods=["POST"]),
        Route("/api/events/{id}/signup", sessions.signup, methods=["PUT", "DELETE"]),
        Route("/api/events/{id}/admit", sessions.admit, methods=["POST"]),
        Route("/api/events/{id}/archive", sessions.archive),
        Route("/api/events/{id}/calendar.ics", calendar.event_calendar),
        Route("/api/me/events", sessions.mine),
        Route("/api/me/calendar", calendar.make_feed, methods=["POST"]),
        Route("/api/me/calendar", calendar.revoke_feed, methods=["DELETE"]),
        Route("/calendar/{secret}.ics", calendar.feed),
        Route("/api/notifications", notifications.list_notifications),
    ]
