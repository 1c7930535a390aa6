"""The account service in process (chat_server/accounts), on a real migrated SQLite file and the
in-memory broker and hub of the in-process tier: the promises the HTTP tests check from
outside, here at the service's seam. Sign-in does one argon2 verification whether the email
is known or not; a full throttle refuses before any password work and is answered with
``Retry-After`` only; a taken email registers "successfully" without creating or changing an
account; signing out closes the session's sockets on this gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat_server.accounts.errors import HandleTaken, InvalidCredentials, TooManyAttempts
from chat_server.accounts.service import AccountService
from chat_server.accounts.sessions import SessionEnder
from chat_server.accounts.throttles import Throttles
from chat_server.api.common import api_error, error_response
from chat_server.config import Settings
from chat_server.gateway.connection import CLOSE_SIGNED_OUT
from chat_server.runtime import lean_handshakes
from chat_server.security import Passwords, key_digest, token_digest
from persistence import accounts
from rooms.model import Member
from support.inproc import InProc, eventually

pytestmark = pytest.mark.unit

SECRET = "a server secret for these tests"
PHRASE = "river lantern maple 7"
PASSWORD = "a long enough password"
ADDRESS = "192.0.2.7"


class CountingPasswords(Passwords):
    """The real argon2 hasher, counting its verifications (the work an attacker could time)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8192)
        self.verified = 0

    async def verify(self, stored: str | None, password: str) -> bool:
        self.verified += 1
        return await super().verify(stored, password)


class Setup:
    def __init__(self, tier: InProc, service: AccountService, hasher: CountingPasswords) -> None:
        self.tier, self.service, self.hasher = tier, service, hasher


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    tier = InProc(tmp_path)
    await tier.start()
    try:
        async with tier.db() as db:
            await accounts.add_org(db, "Lantern", "lantern", key_digest(SECRET, PHRASE), [],
                                   datetime.now(UTC))
        settings = Settings.from_env({}, login_attempts=3, login_address_attempts=100)

        async def member_for_token(token: str) -> Member | None:
            found = (await lean_handshakes(tier.hot, [token_digest(token)])).get(token_digest(token))
            return None if found is None else found.member

        hasher = CountingPasswords()
        service = AccountService(settings, tier.db, SECRET, hasher, Throttles.open(settings, None),
                                 member_for_token, SessionEnder(tier.broker, tier.hub.close_session))
        yield Setup(tier, service, hasher)
    finally:
        await tier.stop()


async def test_unknown_email_and_wrong_password_do_the_same_work_and_get_the_same_refusal(
    setup: Setup,
) -> None:
    await setup.service.register(ADDRESS, PHRASE, "Ann", "ann@example.org", PASSWORD)
    refusals = []
    for email, password in (("nobody@example.org", PASSWORD), ("ann@example.org", "not her password")):
        before = setup.hasher.verified
        with pytest.raises(InvalidCredentials) as caught:
            await setup.service.sign_in(ADDRESS, email, password)
        assert setup.hasher.verified == before + 1
        refusals.append((caught.value.code, caught.value.http_status, caught.value.detail))
    assert refusals[0] == refusals[1] == (
        "invalid_credentials", 401, "that email and password do not match")
    # Not even an email: the same verification, the same answer.
    with pytest.raises(InvalidCredentials):
        await setup.service.sign_in(ADDRESS, "not an email\x00", PASSWORD)
    assert setup.hasher.verified == 3
    signed_in = await setup.service.sign_in(ADDRESS, " ANN@example.org ", PASSWORD)
    assert signed_in.member.handle == "Ann" and setup.hasher.verified == 4


async def test_a_full_throttle_refuses_before_any_password_work_with_retry_after_only(
    setup: Setup,
) -> None:
    await setup.service.register(ADDRESS, PHRASE, "Ann", "ann@example.org", PASSWORD)
    for _ in range(3):  # login_attempts
        with pytest.raises(InvalidCredentials):
            await setup.service.sign_in(ADDRESS, "ann@example.org", "wrong password")
    before = setup.hasher.verified
    with pytest.raises(TooManyAttempts) as caught:
        await setup.service.sign_in(ADDRESS, "ann@example.org", PASSWORD)  # even the right one
    assert setup.hasher.verified == before
    response = error_response(api_error(caught.value))
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(Settings.from_env({}).key_phrase_window_s)
    assert response.body == b'{"error":"too_many_attempts","detail":"too many attempts; try again later"}'
    # Another address is not held back by this one's failures.
    assert (await setup.service.sign_in("198.51.100.1", "ann@example.org", PASSWORD)).token


async def test_a_taken_email_registers_alike_and_changes_nothing(setup: Setup) -> None:
    first = await setup.service.register(ADDRESS, PHRASE, "Ann", "ann@example.org", PASSWORD)
    again = await setup.service.register(ADDRESS, PHRASE, "Bea", "ANN@example.org", "another password!")
    assert first == again == "Lantern"
    async with setup.tier.db() as db:
        assert await accounts.credentials(db, "ann@example.org") is not None
        assert (await accounts.org_by_key(db, key_digest(SECRET, PHRASE))) is not None
    with pytest.raises(InvalidCredentials):  # Bea's password opens nothing
        await setup.service.sign_in(ADDRESS, "ann@example.org", "another password!")
    signed_in = await setup.service.sign_in(ADDRESS, "ann@example.org", PASSWORD)
    assert signed_in.member.handle == "Ann"
    with pytest.raises(HandleTaken):  # handles are public: this one is told
        await setup.service.register(ADDRESS, PHRASE, "ann", "carl@example.org", PASSWORD)


async def test_signing_out_ends_the_session_and_closes_its_sockets_here(setup: Setup) -> None:
    await setup.service.register(ADDRESS, PHRASE, "Ann", "ann@example.org", PASSWORD)
    signed_in = await setup.service.sign_in(ADDRESS, "ann@example.org", PASSWORD)
    conn = setup.tier.connect(signed_in.member)
    conn.session_digest = token_digest(signed_in.token)
    other = setup.tier.connect(signed_in.member)  # another session's: left open
    await setup.service.sign_out(signed_in.token)
    digest = token_digest(signed_in.token)
    assert digest not in await lean_handshakes(setup.tier.hot, [digest])
    await eventually(lambda: conn.closed.is_set())
    assert conn.close_code == CLOSE_SIGNED_OUT and other.close_code is None
