"""Writers that make posted messages durable in the database: embedded and Redis-fed.

Both writers live here and store rows through ``persistence.transcripts.store``. A broker
never owns a writer: the embedded broker is handed a ``Committer`` (``committer.py``), and
the composition root starts and stops whichever writer runs.
"""
