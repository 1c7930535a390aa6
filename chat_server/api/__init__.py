"""The HTTP API: accounts, communities and health."""
