"""A deployment's database set-up (support.cluster.set_up) runs the CLI once per kind of
environment in a test process; later deployments of that kind start from a copy of the state
right after it. The copy must be that state, whatever the first deployment's tests did to
their database afterwards, and a database that holds something already is set up by the
CLI over what is there."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from support.cluster import ORG_A, ORG_B, SET_UPS, Deployment
from support.procs import Postgres

ORGS = sorted([ORG_A[0], ORG_B[0]])
# What a test might do to its deployment's database: an organization's own crisis resources.
TOUCH = f"UPDATE organizations SET crisis_resources = 'touched' WHERE name = '{ORG_B[0]}'"
TOUCHED = "SELECT name FROM organizations WHERE crisis_resources = 'touched'"


def _sqlite(dep: Deployment, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db", isolation_level=None)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _start(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Deployment, int, int]:
    """A deployment without gateways, and how many CLI set-ups and copies it took."""
    runs, copies = SET_UPS.cli_runs, SET_UPS.copies
    dep = Deployment.start(tmp_path_factory.mktemp("setup"), count=0, extra_env=env)
    return dep, SET_UPS.cli_runs - runs, SET_UPS.copies - copies


def test_a_sqlite_deployment_starts_from_a_copy_of_the_state_after_set_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"KINDRED_SUBSCRIPTION_CHECK_S": "0.71"}  # a kind of environment no other test has
    first, runs, copies = _start(tmp_path_factory, env)
    assert (runs, copies) == (1, 0)
    _sqlite(first, TOUCH)

    second, runs, copies = _start(tmp_path_factory, env)
    assert (runs, copies) == (0, 1)
    assert sorted(n for (n,) in _sqlite(second, "SELECT name FROM organizations")) == ORGS
    assert _sqlite(second, TOUCHED) == []
    assert _sqlite(second, "SELECT count(*) FROM communities") == _sqlite(first, "SELECT count(*) FROM communities")

    # Another kind of environment is set up by the CLI.
    _, runs, copies = _start(tmp_path_factory, {"KINDRED_SUBSCRIPTION_CHECK_S": "0.72"})
    assert (runs, copies) == (1, 0)

    # A data directory that holds a database already: the CLI sets up over it, keeping it.
    runs = SET_UPS.cli_runs
    again = Deployment.start(first.workdir, count=0, extra_env=env)
    assert SET_UPS.cli_runs == runs + 1
    assert _sqlite(again, TOUCHED) == [(ORG_B[0],)]


async def _fetch(dsn: str, sql: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return sorted(str(r[0]) for r in await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.mark.postgres
def test_a_postgres_deployment_starts_from_a_template_of_the_state_after_set_up(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres
) -> None:
    env = {"KINDRED_DATABASE_URL": postgres.url, "KINDRED_SUBSCRIPTION_CHECK_S": "0.73"}
    postgres.reset_database()
    _, runs, copies = _start(tmp_path_factory, env)
    assert (runs, copies) == (1, 0)
    asyncio.run(_fetch(postgres.dsn, TOUCH + " RETURNING id"))

    # Not emptied: set up by the CLI over what is there.
    _, runs, copies = _start(tmp_path_factory, env)
    assert (runs, copies) == (1, 0)
    assert asyncio.run(_fetch(postgres.dsn, TOUCHED)) == [ORG_B[0]]

    postgres.reset_database()
    _, runs, copies = _start(tmp_path_factory, env)
    assert (runs, copies) == (0, 1)
    assert asyncio.run(_fetch(postgres.dsn, "SELECT name FROM organizations")) == ORGS
    assert asyncio.run(_fetch(postgres.dsn, TOUCHED)) == []
    assert asyncio.run(_fetch(postgres.dsn, "SELECT slug FROM communities")) != []
