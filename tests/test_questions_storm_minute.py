"""The vote storm of tests/test_questions_storm.py at full size: 300 members for a minute,
on three gateways. Its own module so it runs beside the rest of the suite, not after it.
"""

from __future__ import annotations

import pytest

from support.cluster import Deployment
from support.moderation import Teams
from support.vote_storm import storm, teams  # noqa: F401  (teams is the module's fixture)


@pytest.mark.slow
@pytest.mark.redis
async def test_vote_storm_full_minute(redis_cluster: Deployment, teams: Teams) -> None:  # noqa: F811
    await storm(redis_cluster, teams, 300, 60)
