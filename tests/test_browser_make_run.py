"""`make run` ends with a short banner (issue 12, point 6): the address, the demo key phrase
and the demo navigator's sign-in, printed last, after the server's own lines; a newcomer
registers with that phrase and the navigator signs in with that sign-in, in Chromium. A
second run prints the same ones."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import expect

from support.browser import REPO, chromium, new_handle, register_in_page
from support.cluster import TEST_ENV
from support.procs import TIMEOUT_SCALE, free_port

BANNER = re.compile(
    r"Kindred is running at (?P<url>http://\S+)\n"
    r"Demo key phrase \(to register a member\): (?P<phrase>\S+)\n"
    r"Demo navigator: sign in as (?P<email>\S+) with the password (?P<password>\S+)\n"
    r"Stop with Ctrl\+C\.\n=+\n$"
)


def start_demo(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"run-{time.monotonic_ns()}.log"
    env = {**os.environ, **TEST_ENV, "KINDRED_DATA_DIR": str(workdir / "data"), "KINDRED_PORT": str(port),
           "KINDRED_LOG_LEVEL": "info"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "chat_server.demo"], cwd=workdir, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def banner_of(proc: subprocess.Popen[bytes], log: Path) -> re.Match[str]:
    deadline = time.monotonic() + 120 * TIMEOUT_SCALE
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = BANNER.search(text)
        if found:
            return found
        assert proc.poll() is None, f"the demo exited early:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no banner within 120 s:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)  # Ctrl+C
    return proc.wait(timeout=30 * TIMEOUT_SCALE)


def test_make_run_ends_with_the_banner_and_its_sign_ins_work(tmp_path: Path) -> None:
    recipe = (REPO / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "python -m chat_server.demo" in recipe, recipe

    port = free_port()
    proc, log = start_demo(tmp_path, port)
    try:
        found = banner_of(proc, log)
        text = log.read_text()
        # Last: after the server's start-up lines, nothing but the banner.
        assert text.index("Application startup complete") < found.start()
        assert found["url"] == f"http://127.0.0.1:{port}"
        with chromium(found["url"]) as web:
            newcomer = web.person().page
            handle = new_handle("new")
            register_in_page(newcomer, found["phrase"], handle, f"{handle}@example.org")
            expect(newcomer.get_by_role("heading", level=2, name="Local rooms: Demo Cancer Center")).to_be_visible()

            nav = web.person().page
            nav.goto("/#/signin")
            nav.get_by_label("Email address").fill(found["email"])
            nav.get_by_label("Password", exact=True).fill(found["password"])
            nav.get_by_role("button", name="Sign in").click()
            expect(nav.get_by_role("heading", level=1, name="Rooms")).to_be_visible()
            expect(nav.locator("#whoami")).to_contain_text("Navigator")
            expect(nav.get_by_role("link", name="Safety queue")).to_be_visible()
            web.assert_clean()
    finally:
        assert stop(proc) == 0

    # The next run shows the same sign-ins (kept in the data directory, for its owner only).
    assert (tmp_path / "data" / "demo.json").stat().st_mode & 0o077 == 0
    again, log2 = start_demo(tmp_path, port)
    try:
        second = banner_of(again, log2)
        assert (second["phrase"], second["email"], second["password"]) == (found["phrase"], found["email"], found["password"])
    finally:
        assert stop(again) == 0
