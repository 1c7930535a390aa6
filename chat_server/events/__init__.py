"""Scheduled sessions: lifecycle, gateway gates, calendars; see docs/architecture.md."""
