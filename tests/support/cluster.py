"""A Kindred deployment for end-to-end tests: real processes, a real database, real Redis.

``Deployment`` prepares the database (migrations, catalog, two organizations) and starts
``gateways`` ``kindred serve`` processes sharing it. In embedded mode there is one gateway on
SQLite with the in-process broker; in Redis mode they share PostgreSQL and redis-server.
"""

from __future__ import annotations

import contextlib
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.procs import Gateway, run_cli, run_cli_steps, start_together

ORG_A = ("Riverside Cancer Center", "riverside lantern maple 11")
ORG_B = ("Hillcrest Oncology", "hillcrest willow stone 22")
PASSWORD = "a long enough password"

# Fast but real: argon2id with smaller parameters, generous send limits, quick heartbeats.
TEST_ENV = {
    "KINDRED_ARGON2_TIME_COST": "1",
    "KINDRED_ARGON2_MEMORY_KIB": "8192",
    "KINDRED_SEND_RATE": "60000",
    "KINDRED_SEND_BURST": "5000",
    "KINDRED_HEARTBEAT_INTERVAL_S": "1",
    "KINDRED_PRESENCE_TTL_S": "4",
    "KINDRED_PRESENCE_LINGER_S": "1",
    "KINDRED_SUBSCRIPTION_CHECK_S": "0.5",
    # Long enough for a stalled member's backlog (test_faults_shutdown) to flush on a loaded
    # 2-core machine running two test workers; a drain that goes well takes well under 1 s.
    "KINDRED_SHUTDOWN_GRACE_S": "6",
    "KINDRED_KEY_PHRASE_ATTEMPTS": "1000",
    "KINDRED_LOGIN_ATTEMPTS": "1000",
    "KINDRED_LOGIN_ADDRESS_ATTEMPTS": "100000",
    "KINDRED_REGISTER_ATTEMPTS": "100000",  # every test registers from 127.0.0.1
    "KINDRED_REGISTER_KEY_ATTEMPTS": "100000",
    "KINDRED_LOG_LEVEL": "warning",
    # Sessions: a live session ends 1 s after ends_at, its archive is published 2 s later.
    "KINDRED_EVENT_GRACE_S": "1",
    "KINDRED_EVENT_ARCHIVE_AFTER_S": "2",
    "KINDRED_EVENT_TICK_S": "0.25",
    "KINDRED_VIDEO_EMBED_HOSTS": "video.example.org",
}


@dataclass
class Member:
    handle: str
    email: str
    token: str
    id: str
    org: str


@dataclass
class Deployment:
    workdir: Path
    env: dict[str, str]
    gateways: list[Gateway] = field(default_factory=list)

    @classmethod
    def start(
        cls, workdir: Path, count: int, extra_env: dict[str, str] | None = None
    ) -> Deployment:
        env = {**TEST_ENV, "KINDRED_DATA_DIR": str(workdir / "data"), **(extra_env or {})}
        dep = cls(workdir, env)
        # The real CLI, four commands in one process: most of each command's second is
        # importing the server, paid here once per deployment rather than four times.
        run_cli_steps(
            [["db", "upgrade"], ["seed"],
             *(["org", "add", name, "--key-phrase", phrase, "--if-missing"] for name, phrase in (ORG_A, ORG_B))],
            env, workdir,
        )
        dep.gateways = [Gateway(env, workdir, name=f"gw{i}") for i in range(count)]
        start_together(dep.gateways)
        return dep

    def stop(self) -> None:
        for gw in self.gateways:
            with contextlib.suppress(Exception):
                gw.kill()

    def cli(self, *args: str) -> str:
        return run_cli(list(args), self.env, self.workdir).stdout

    def register(self, org: tuple[str, str] = ORG_A, gateway: int = 0, handle: str | None = None) -> Member:
        # Letters only: a handle with seven digits would be refused as a phone number.
        handle = handle or "m" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(11))
        email = f"{handle.lower()}@example.org"
        base = self.gateways[gateway].http_url
        with httpx.Client(base_url=base, timeout=30) as http:
            r = http.post("/api/register", json={"key_phrase": org[1], "handle": handle, "email": email, "password": PASSWORD})
            assert r.status_code == 202, r.text
            r = http.post("/api/session", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
        return Member(handle, email, body["token"], body["user"]["id"], org[0])

    def new_org(self) -> tuple[str, str, list[str]]:
        """A fresh organization (name, key phrase, local room slugs): rooms no test used."""
        n = secrets.token_hex(3)
        name, phrase = f"Test Org {n}", f"test phrase {n}"
        self.cli("org", "add", name, "--key-phrase", phrase)
        slug = f"test-org-{n}"
        return name, phrase, [f"{slug}-lounge", f"{slug}-support-group", f"{slug}-caregivers-circle"]
