"""Writers that make posted messages durable in the database: embedded and Redis-fed."""
