"""What the load generator measures with: send times written into message bodies as letters
and read back from raw frame bytes, percentiles, and CPU and memory from ``/proc``."""

from __future__ import annotations

import os
import resource

# Timestamps travel in message bodies as letters only: a run of digits could look like a
# phone number to Kindred's PHI check, which would hold the message instead of posting it.
_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_BODY = "Thank you all for sharing today, it really helps to hear from people who get it ~"


_STAMP_LETTERS = 12  # 26**12 ns is over 3,000 years of perf_counter_ns
_BYTES_TO_BASE26 = bytes.maketrans(_ALPHA.encode(), b"0123456789abcdefghijklmnop")
# Every message frame of every target starts with a map header, then "type": "message"
# (msgpack), or is a Socket.IO event named "message" (text).
_MSGPACK_MESSAGE = b"\xa4type\xa7message"
_SIO_MESSAGE = b'42["message"'


def stamp(phase: int, now_ns: int) -> str:
    """The body: some words, then " ~", the phase letter and the send time in letters."""
    letters = []
    n = now_ns
    for _ in range(_STAMP_LETTERS):
        n, d = divmod(n, 26)
        letters.append(_ALPHA[d])
    return _BODY + _ALPHA[phase] + "".join(reversed(letters))


def unstamp(payload: bytes) -> tuple[int, int]:
    """(phase, send time in ns) from the raw bytes of a message frame, without decoding the
    frame: the generator must spend less per received frame than the server per sent one,
    or it would measure itself. " ~" occurs in no frame before the body."""
    i = payload.find(b" ~") + 2
    phase = payload[i] - 97
    sent = int(payload[i + 1:i + 1 + _STAMP_LETTERS].translate(_BYTES_TO_BASE26), 26)
    return phase, sent


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


# --------------------------------------------------------------------------- /proc


class ProcStat:
    """CPU seconds and RSS of a set of server processes (and, for CPU, their reaped
    children: PostgreSQL backends that came and went)."""

    _tick = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: list[int], parents: list[int] | None = None) -> None:
        self.pids = pids
        self.parents = parents or []

    def _all(self) -> list[int]:
        if not self.parents:
            return self.pids
        found = list(self.pids) + list(self.parents)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in self.parents:
                    found.append(int(entry))
        return found

    def cpu(self) -> float:
        total = 0
        for pid in self._all():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / self._tick

    def _status(self, key: str) -> int:
        total = 0
        for pid in self._all():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(key):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def rss_kib(self) -> int:
        return self._status("VmRSS:")

    def hwm_kib(self) -> int:
        return self._status("VmHWM:")


def client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Stats:
    """Deliveries and latencies, per phase (a phase letter travels in each body)."""

    def __init__(self) -> None:
        self.delivered = [0] * 26
        self.expected = [0] * 26
        self.latencies: list[list[float]] = [[] for _ in range(26)]
        self.errors: dict[str, int] = {}
        self.acks = 0

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

