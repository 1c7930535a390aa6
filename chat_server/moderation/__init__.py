"""Moderation and safety on the server: enforcing restrictions on every gateway, carrying out
navigators' actions, duty, crisis alerts and reports. The rules themselves are pure and live
in ``rooms.moderation``; this package gathers the facts and does the I/O."""
