"""``make run``: a demo a newcomer can use at once, ending with a short banner.

``python -m chat_server.demo`` brings the database up to date, loads the catalog, makes sure
the demo organization and a demo navigator exist, starts ``kindred serve`` and, once it
answers, prints the banner last: the address, the demo key phrase and the navigator's sign-in.

The demo's key phrase and the navigator's password are kept in ``KINDRED_DATA_DIR/demo.json``
(readable by its owner only), so every run prints the same ones; without that file (a data
directory from before) the demo organization gets a new key phrase and the navigator a new
password. For a demo on one machine only: a real deployment uses ``kindred org add``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from chat_server.config import Settings, SettingsError

ORG_NAME = "Demo Cancer Center"
NAVIGATOR_HANDLE = "DemoNavigator"
NAVIGATOR_EMAIL = "navigator@example.org"  # example.org: reserved, never a real inbox
START_WITHIN_S = 60


@dataclass(frozen=True)
class DemoLogins:
    key_phrase: str
    navigator_email: str
    navigator_password: str


def _state_file(settings: Settings) -> Path:
    return settings.data_dir / "demo.json"


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _save(path: Path, logins: DemoLogins) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(logins.__dict__, f, indent=2)


async def _ensure(settings: Settings, kept: dict[str, str]) -> DemoLogins:
    """The demo organization and navigator, with the kept phrase and password when they still
    work; new ones otherwise."""
    from chat_server.runtime import utcnow
    from chat_server.security import Passwords, key_digest, new_key_phrase, new_secret
    from persistence import accounts
    from persistence.db import make_engine, session_factory
    from rooms import catalog, handles
    from rooms.roles import Role

    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    engine = make_engine(settings.effective_database_url)
    try:
        async with session_factory(engine)() as db:
            secret = settings.secret_key or await accounts.server_secret(db, new_secret())
            phrase = kept.get("key_phrase") or new_key_phrase()
            org = await accounts.org_by_name(db, ORG_NAME)
            if org is None:
                slug = catalog.slugify(ORG_NAME)
                rooms = [spec.for_org(slug, ORG_NAME) for spec in catalog.load().local_rooms]
                org = await accounts.add_org(db, ORG_NAME, slug, key_digest(secret, phrase), rooms, utcnow())
            elif org.key_digest != key_digest(secret, phrase):
                phrase = new_key_phrase()  # the phrase was not kept: the demo gets a new one
                await accounts.set_org_key(db, org, key_digest(secret, phrase))
            assert org.id is not None
            password = kept.get("navigator_password") or new_key_phrase()
            found = await accounts.credentials(db, NAVIGATOR_EMAIL)
            if found is None:
                await accounts.create_user(
                    db, org.id, NAVIGATOR_HANDLE, handles.normalize(NAVIGATOR_HANDLE),
                    NAVIGATOR_EMAIL, await passwords.hash(password), utcnow(),
                )
            elif not await passwords.verify(found.password_hash, password):
                password = new_key_phrase()
                await accounts.update_password_hash(db, found.user_id, await passwords.hash(password))
            await accounts.set_role(db, handles.normalize(NAVIGATOR_HANDLE), Role.NAVIGATOR)
    finally:
        await engine.dispose()
    return DemoLogins(phrase, NAVIGATOR_EMAIL, password)


def prepare(settings: Settings) -> DemoLogins:
    """Migrate, seed, and make sure the demo organization and navigator exist; quietly."""
    for step in (["db", "upgrade"], ["seed"]):
        done = subprocess.run([sys.executable, "-m", "chat_server", *step], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(done.returncode)
    path = _state_file(settings)
    logins = asyncio.run(_ensure(settings, _load(path)))
    _save(path, logins)
    return logins


def address(settings: Settings) -> str:
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def banner(settings: Settings, logins: DemoLogins) -> str:
    lines = [
        f"Kindred is running at {address(settings)}",
        f"Demo key phrase (to register a member): {logins.key_phrase}",
        f"Demo navigator: sign in as {logins.navigator_email} with the password {logins.navigator_password}",
        "Stop with Ctrl+C.",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"kindred: {exc}", file=sys.stderr)
        return 2
    logins = prepare(settings)
    # Its own session: Ctrl+C reaches this process only, which passes it on once (a second
    # signal would stop the server without letting it drain).
    server = subprocess.Popen([sys.executable, "-m", "chat_server", "serve"], start_new_session=True)

    def forward(signum: int, frame: object) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    local = f"http://127.0.0.1:{settings.port}" if settings.host in ("0.0.0.0", "::", "") else address(settings)
    deadline = time.monotonic() + START_WITHIN_S
    while server.poll() is None and not _healthy(local):
        if time.monotonic() > deadline:
            print("kindred: the server did not answer within a minute", file=sys.stderr)
            server.terminate()
            break
        time.sleep(0.2)
    if server.poll() is None:
        print(banner(settings, logins), flush=True)
    return server.wait()


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
