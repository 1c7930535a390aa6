"""The WebSocket gateway: a thin transport over the hub that fans frames out to sockets."""
