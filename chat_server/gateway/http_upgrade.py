"""uvicorn's httptools HTTP protocol, freed by reference counting once it has handed its
socket to the WebSocket protocol.

Every WebSocket arrives as an HTTP request: uvicorn's ``HttpToolsProtocol`` parses it, then
``handle_websocket_upgrade`` gives the transport to the WebSocket protocol and is never used
again. Its parser holds bound methods of the protocol (the parser's callbacks), so the two
refer to each other; uvicorn breaks that cycle in ``connection_lost`` (``self.parser =
None``), but after an upgrade ``connection_lost`` goes to the WebSocket protocol instead, and
the HTTP protocol with its parser, flow control, event, header lists and deques (some 25
objects) was left for the cyclic collector. Connecting 2,000 members left 46,000 such
objects: a tenth of what filled the young generation, all of it traversed and cleared by the
collector on the loop thread (bench/notes.md, issue 18). Breaking the cycle at the upgrade,
as uvicorn does at the end of a plain HTTP connection, frees it when the upgrade returns.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What this relies on in uvicorn's protocol, none of it public API; tests/test_http_upgrade.py
# checks them against the installed uvicorn, whose version pyproject.toml bounds.
UVICORN_METHODS = ("handle_websocket_upgrade", "data_received")
UVICORN_ATTRIBUTES = ("parser",)


class UpgradingHttpProtocol(HttpToolsProtocol):
    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The transport now belongs to the WebSocket protocol: nothing calls this one again
        # (its ``data_received`` returns straight after this), so the parser can go.
        self.parser = None  # type: ignore[assignment]
