"""Storage: SQLModel tables, the engine, migrations and the queries the server runs."""
