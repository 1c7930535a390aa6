"""Issue 18: "the anti-entropy check fires only on a real gap". A short soak through the same
code as `make soak` (bench/soak.py, in its own process as `make soak` runs it): two gateways
on real Redis and PostgreSQL, small rooms with members on both, members dropping and resuming
with their last seq, some on the other gateway. Every acknowledged message must reach every
member of its room exactly once, in seq order, and no gateway may log the anti-entropy alarm.
(The 10-minute run and its figures: docs/operations.md, "The soak".)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.procs import TIMEOUT_SCALE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_twenty_seconds_of_churn_on_two_gateways_lose_nothing_and_raise_no_alarm(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    argv = [sys.executable, "-m", "bench.soak", "--minutes", str(20 / 60), "--gateways", "2",
            "--rooms", "10", "--members", "6", "--senders", "2", "--rate", "2", "--churn", "3",
            "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                          timeout=300 * TIMEOUT_SCALE, check=False)
    assert out.exists(), done.stdout + done.stderr[-3000:]
    r = json.loads(out.read_text())
    # It really ran: messages went out and members came back on both kinds of reconnect.
    assert r["acknowledged"] > 500, r
    assert r["resumes"] > 0 and r["rejoins"] > 0, r
    assert r["missing"] == 0, r
    assert r["duplicates"] == 0 and r["out_of_order"] == 0 and r["gap_frames"] == 0, r
    assert r["unacknowledged"] == 0, r
    assert r["alarms"] == {"gw0": 0, "gw1": 0}, r
    # The soak's own verdict agrees (it exits 1 on any of the above).
    assert done.returncode == 0, done.stdout
