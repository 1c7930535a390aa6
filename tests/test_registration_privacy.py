"""Issue 13, points 1 and 2: registration is not an oracle for "this email has an account"
(the same answer, after the same work, for a taken email as for a new one; throttles per
client address and per key phrase), and one address cannot spray a password over many emails.

Client addresses are set with X-Forwarded-For, which the server believes from 127.0.0.1 only
(uvicorn's default trusted proxy, KINDRED_TRUSTED_PROXIES): the test is that proxy.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.cluster import ORG_A, ORG_B, PASSWORD, Deployment
from support.http import TLS

_LETTERS = "bcdefhijklmnpqrstuvwyz"  # never a phone number or a mail word


def new_handle() -> str:
    return "rp" + "".join(secrets.choice(_LETTERS) for _ in range(10))


def signup(handle: str, email: str, phrase: str = ORG_A[1], password: str = PASSWORD) -> dict[str, Any]:
    return {"key_phrase": phrase, "handle": handle, "email": email, "password": password}


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def http(dep: Deployment) -> httpx.Client:
    return httpx.Client(verify=TLS, base_url=dep.gateways[0].http_url, timeout=30)


# --------------------------------------------------------------------------- the same answer


def test_a_taken_email_gets_the_answer_a_new_one_gets(deployment: Deployment) -> None:
    victim = deployment.register()
    samples = 15
    answers: dict[str, set[tuple[int, str]]] = {"taken": set(), "new": set()}
    times: dict[str, list[float]] = {"taken": [], "new": []}
    with http(deployment) as c:
        c.post("/api/register", json=signup(new_handle(), f"{new_handle()}@example.org"))  # warm
        for _ in range(samples):
            for kind in ("taken", "new"):  # interleaved: drift in load hits both alike
                email = victim.email if kind == "taken" else f"{new_handle()}@example.org"
                started = time.perf_counter()
                r = c.post("/api/register", json=signup(new_handle(), email, password="a guessed password"))
                times[kind].append(time.perf_counter() - started)
                answers[kind].add((r.status_code, r.text))
        assert len(answers["taken"]) == 1 and answers["taken"] == answers["new"], answers
        status, _ = next(iter(answers["new"]))
        assert status == 202
        # Nothing was created or changed for the taken email: its own password still works.
        r = c.post("/api/session", json={"email": victim.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        r = c.post("/api/session", json={"email": victim.email, "password": "a guessed password"})
        assert r.status_code == 401, r.text
    taken_ms = statistics.median(times["taken"]) * 1000
    new_ms = statistics.median(times["new"]) * 1000
    print(f"register median: taken {taken_ms:.1f} ms, new {new_ms:.1f} ms")
    assert abs(taken_ms - new_ms) < 10, (taken_ms, new_ms)


# --------------------------------------------------------------------------- throttles


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    env = {
        "KINDRED_REGISTER_ATTEMPTS": "3",  # per client address per window
        "KINDRED_REGISTER_KEY_ATTEMPTS": "6",  # per key phrase per window
        "KINDRED_LOGIN_ADDRESS_ATTEMPTS": "20",  # the default
    }
    dep = Deployment.start(tmp_path_factory.mktemp("strict-accounts"), count=1, extra_env=env)
    yield dep
    dep.stop()


def test_registrations_are_throttled_per_address_and_per_key_phrase(strict: Deployment) -> None:
    with http(strict) as c:
        taken = f"{new_handle()}@example.org"
        r = c.post("/api/register", json=signup(new_handle(), taken), headers=from_address("198.51.100.1"))
        assert r.status_code == 202, r.text
        for _ in range(2):  # the address's budget: 3
            r = c.post("/api/register", json=signup(new_handle(), f"{new_handle()}@example.org"),
                       headers=from_address("198.51.100.1"))
            assert r.status_code == 202, r.text
        # Over it, a taken and a new email get the same refusal, and nothing is created.
        refusals = set()
        for email in (taken, f"{new_handle()}@example.org"):
            r = c.post("/api/register", json=signup(new_handle(), email), headers=from_address("198.51.100.1"))
            assert r.status_code == 429 and r.json()["error"] == "too_many_attempts", r.text
            assert r.headers["Retry-After"] == "3600"
            refusals.add((r.status_code, r.text))
            if email != taken:
                assert c.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401
        assert len(refusals) == 1, refusals
        # Another address still registers, until the key phrase's budget (6) is spent...
        for i in range(3):
            r = c.post("/api/register", json=signup(new_handle(), f"{new_handle()}@example.org"),
                       headers=from_address(f"198.51.100.{10 + i}"))
            assert r.status_code == 202, r.text
        r = c.post("/api/register", json=signup(new_handle(), f"{new_handle()}@example.org"),
                   headers=from_address("198.51.100.20"))
        assert r.status_code == 429 and r.json()["error"] == "too_many_attempts", r.text
        # ...which is this phrase's alone: another organization's still works from there.
        r = c.post("/api/register", json=signup(new_handle(), f"{new_handle()}@example.org", ORG_B[1]),
                   headers=from_address("198.51.100.20"))
        assert r.status_code == 202, r.text


def test_one_password_over_many_emails_is_throttled_per_address(strict: Deployment) -> None:
    with http(strict) as c:
        real = f"{new_handle()}@example.org"
        r = c.post("/api/register", json=signup(new_handle(), real, ORG_B[1]), headers=from_address("203.0.113.99"))
        assert r.status_code == 202, r.text
        sprayer = from_address("203.0.113.5")
        statuses = []
        for i in range(25):
            email = real if i == 7 else f"{new_handle()}@example.org"
            r = c.post("/api/session", json={"email": email, "password": "Summer2026!!"}, headers=sprayer)
            statuses.append(r.status_code)
        # 20 failures across emails from one address (the default budget), then 429 ...
        assert statuses == [401] * 20 + [429] * 5, statuses
        # ... even with the right password, from that address; another address is unaffected.
        r = c.post("/api/session", json={"email": real, "password": PASSWORD}, headers=sprayer)
        assert r.status_code == 429 and r.json()["error"] == "too_many_attempts", r.text
        assert r.headers["Retry-After"].isdigit()
        r = c.post("/api/session", json={"email": real, "password": PASSWORD},
                   headers=from_address("203.0.113.6"))
        assert r.status_code == 200, r.text


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(strict: Deployment) -> None:
    """A client that sets X-Forwarded-For itself behind a proxy that appends: the server takes
    the rightmost address, the one the proxy added, not the one the client chose."""
    with http(strict) as c:
        for i in range(20):
            c.post("/api/session", json={"email": f"{new_handle()}@example.org", "password": "x"},
                   headers=from_address(f"192.0.2.{i}, 203.0.113.77"))
        r = c.post("/api/session", json={"email": f"{new_handle()}@example.org", "password": "x"},
                   headers=from_address("192.0.2.200, 203.0.113.77"))
        assert r.status_code == 429, r.text
