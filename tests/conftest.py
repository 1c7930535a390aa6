"""Shared fixtures: real redis-server and PostgreSQL for the session, deployments per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cluster import Deployment, shared_servers
from support.faults import _three_gateways, cluster, fault_pg, fault_redis  # noqa: F401 - fixtures
from support.procs import Postgres, RedisServer
from support.transcripts import infra  # noqa: F401 - a fixture of test_transcript_faults_*


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with Postgres(tmp_path_factory.mktemp("postgres")) as pg:
        yield pg


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One `kindred serve` with no settings but test speed-ups: SQLite, in-process broker."""
    dep = Deployment.start(tmp_path_factory.mktemp("embedded"), count=1)
    yield dep
    dep.stop()


@pytest.fixture(scope="module")
def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    """Three `kindred serve` processes sharing redis-server and PostgreSQL."""
    env = shared_servers(redis_server, postgres)
    dep = Deployment.start(tmp_path_factory.mktemp("cluster"), count=3, extra_env=env)
    yield dep
    dep.stop()


@pytest.fixture(params=["embedded", "redis"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """Run a test in both modes: embedded (one process) and Redis (three gateways)."""
    dep: Deployment = request.getfixturevalue("embedded" if request.param == "embedded" else "redis_cluster")
    return dep


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_unit_"):
            item.add_marker(pytest.mark.unit)


# -- browser tests: one Chromium per module, against each mode in turn ----------------------


@pytest.fixture(scope="module")
def redis_pair(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    """Two `kindred serve` processes sharing redis-server and PostgreSQL (the browser tests'
    Redis mode: the people of a test are spread over both gateways)."""
    env = shared_servers(redis_server, postgres)
    dep = Deployment.start(tmp_path_factory.mktemp("pair"), count=2, extra_env=env)
    yield dep
    dep.stop()


@pytest.fixture(scope="module", params=["embedded", "redis"])
def site(request: pytest.FixtureRequest) -> Deployment:
    """The deployment a browser test runs against: embedded (one process, SQLite), then Redis
    mode (two gateways, PostgreSQL)."""
    dep: Deployment = request.getfixturevalue("embedded" if request.param == "embedded" else "redis_pair")
    return dep


@pytest.fixture(scope="module")
def browsers(site: Deployment) -> Iterator[Any]:
    from support.browser import chromium  # Playwright is imported only by browser tests

    with chromium([gw.http_url for gw in site.gateways]) as b:
        yield b


@pytest.fixture
def web(browsers: Any) -> Iterator[Any]:
    """The module's Chromium, with the checks of foreign requests and page problems reset and
    every context closed after the test."""
    browsers.foreign_requests.clear()
    browsers.problems.clear()
    yield browsers
    browsers.close_contexts()
