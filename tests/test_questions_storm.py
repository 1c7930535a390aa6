"""A vote storm: an audience on several gateways votes at random on 50 questions; afterwards
every client shows, for every question, exactly the count the votes recorded, and so does the
database (the column and the vote rows). Meanwhile no member is ever sent a question awaiting
review that is not theirs.

This is the embedded mode's run, scaled to 10 s (300 members). The Redis mode's is the full
one the issue asks for, 300 members for 60 s on three gateways:
tests/test_questions_storm_minute.py, marked slow. A 10 s run on the gateways as well repeated
its first sixth for ~50 s of the suite.
"""

from __future__ import annotations

from support.cluster import Deployment
from support.moderation import Teams
from support.vote_storm import storm, teams  # noqa: F401  (teams is the module's fixture)


async def test_vote_storm(embedded: Deployment, teams: Teams) -> None:  # noqa: F811
    await storm(embedded, teams, 300, 10)
