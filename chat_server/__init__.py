"""Kindred's server: HTTP API, WebSocket gateway, configuration and command line."""
