"""A vote storm: an audience on several gateways votes at random on 50 questions; afterwards
every client shows, for every question, exactly the count the votes recorded, and so does the
database (the column and the vote rows). Meanwhile no member is ever sent a question awaiting
review that is not theirs.

The default run is scaled (300 members for 10 s, embedded and on three gateways); the full
one (300 members for 60 s) is tests/test_questions_storm_minute.py, marked slow.
"""

from __future__ import annotations

from support.cluster import Deployment
from support.moderation import Teams
from support.vote_storm import storm, teams  # noqa: F401  (teams is the module's fixture)


async def test_vote_storm(deployment: Deployment, teams: Teams) -> None:  # noqa: F811
    await storm(deployment, teams, 300, 10)
