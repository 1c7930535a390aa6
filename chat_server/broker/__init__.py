"""Fan-out between gateway processes: an in-process broker, or Redis Streams + pub/sub."""
