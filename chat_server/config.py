"""One frozen, typed settings object, read once from ``KINDRED_*`` environment variables.

Nothing reads the environment anywhere else. ``Settings.from_env`` validates every value and
raises ``SettingsError`` listing every problem at once, so a misconfigured server says so at
start-up rather than at the first message.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """One or more settings are invalid; the message lists each of them."""


def _default_web_root() -> Path:
    return Path(__file__).resolve().parent.parent / "web_client"


@dataclass(frozen=True, slots=True)
class Settings:
    # Where things live.
    data_dir: Path = Path("kindred-data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    # libpq's PGSSLMODE as the process found it (read here, where the environment is read):
    # when set, a PostgreSQL on this machine is not connected in plain text straight away.
    pg_sslmode: str = ""
    redis_url: str | None = None  # None: the in-process broker (one process only)
    redis_max_connections: int = 200  # per process; commands wait for a free one (5 s at most)
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_origins: tuple[str, ...] = ()
    # Peers whose X-Forwarded-For is believed (comma-separated addresses or networks); None:
    # uvicorn's default (FORWARDED_ALLOW_IPS, else 127.0.0.1 and ::1). docs/operations.md.
    trusted_proxies: str | None = None
    secret_key: str | None = None  # None: generated once and stored in the database
    web_root: Path = field(default_factory=_default_web_root)
    log_level: str = "info"
    # Sending.
    send_rate: float = 30.0  # messages per minute per member
    send_burst: int = 10
    strikes_before_close: int = 10  # refused frames in a row before the socket is closed
    max_body_chars: int = 4000
    typing_interval_s: float = 3.0
    # Connections.
    max_frame_bytes: int = 65536
    max_connections_per_member: int = 8
    max_rooms_per_connection: int = 100
    outbox_max_frames: int = 2048
    # A join's replay waits for room in a half-full outbox; if the socket takes no frame for
    # this long meanwhile (its client stopped reading), the connection is closed with 1013.
    write_stall_s: float = 10.0
    ping_interval_s: float = 20.0
    # How long an idle HTTP keep-alive connection stays open (uvicorn's timeout_keep_alive).
    # A client or proxy that keeps connections to Kindred alive must give up on an idle one
    # before this, or a request it sends just as Kindred closes it is reset (docs/operations.md
    # §2.5): behind a load balancer that keeps connections (60 s idle is common), set it longer.
    http_keep_alive_s: float = 5.0
    # uvicorn's WebSocket implementation: "direct" (websockets-sansio plus a synchronous write
    # for the fan-out, gateway/direct.py: about 3x less CPU per delivery than uvicorn's own),
    # or uvicorn's "websockets-sansio", "websockets", "wsproto"; and the event loop, "uvloop"
    # when installed or "asyncio". Measured in docs/performance.md.
    ws_impl: str = "direct"
    event_loop: str = "auto"
    # Benchmarks: every this many milliseconds the loop-lag probe (chat_server/looplag.py)
    # notes how late the event loop woke it, served at GET /debug/loop-lag; 0: off.
    loop_lag_probe_ms: float = 0.0
    shutdown_grace_s: float = 5.0
    # Logs and presence.
    replay_window: int = 2000  # messages kept per room for resume (Redis Stream MAXLEN ~)
    max_resume: int = 5000  # most messages one resume sends; older ones: a gap, then history
    # Transcripts.
    run_writer: bool = True  # with Redis: run a transcript writer inside `kindred serve`
    writer_batch: int = 5000  # rows per commit at most (a backlog is caught up in big commits)
    # Embedded mode: rows waiting for the database at most; past it a send gets `unavailable`
    # (and is resent with its cid) instead of memory growing while the database is away.
    writer_queue_max: int = 20_000
    writer_claim_idle_s: float = 15.0  # a dead writer's entries are taken over after this
    # Redis mode: after a batch that did not fill, the writer waits this long for more, so a
    # trickle costs a commit per wait rather than one per message (bench/notes.md: the
    # writer's CPU per message at 0.05 / 0.1 / 0.2 s). Members never wait for it; history
    # and search do, at most this long.
    writer_gather_s: float = 0.05
    # Redis mode: a history page that finds a recent message missing below newer ones (another
    # writer has not committed it yet) waits this long for it; 0 reads past at once.
    history_gap_wait_s: float = 1.0
    presence_ttl_s: float = 20.0
    heartbeat_interval_s: float = 5.0
    # Presence changes in a busy room travel together, at most one frame per room per this
    # many seconds (the first change in a quiet room goes out at once); presence/batch.py.
    presence_batch_s: float = 0.25
    # A member whose connection dropped stays "here" this long, so a reconnect (a phone
    # changing networks, a server restart) is not announced as leaving and coming back.
    # Leaving on purpose, a kick, a ban or a sign-out are announced at once.
    presence_linger_s: float = 3.0
    # joined.present holds at most this many members, and presence frames in a room with
    # more present carry the count only; the full list is paged with `members` (§3.8).
    presence_list_max: int = 100
    # A message to a room with more local members than this goes out this many sockets per
    # turn of the event loop, so a webinar's fan-out does not hold everything else up.
    fan_out_turn: int = 64
    subscription_check_s: float = 1.0  # watchdog and anti-entropy period for pub/sub
    # Moderation: how long a gateway trusts its copy of a room's restrictions and state
    # before reading them again (events keep it current; this bounds a missed event).
    moderation_cache_s: float = 60.0
    # Accounts.
    session_ttl_days: int = 30
    key_phrase_attempts: int = 10  # wrong key phrases per client address per window
    key_phrase_window_s: int = 900
    login_attempts: int = 20  # failed sign-ins per client address and email per window
    login_address_attempts: int = 20  # failed sign-ins per client address, any emails (spraying)
    # Registrations (with a right key phrase, whatever their outcome) per client address and
    # per key phrase, per register_window_s: an answer cannot tell a taken email from a new
    # one, but an account that can sign in afterwards can; these bound how fast anyone asks.
    register_attempts: int = 10
    register_key_attempts: int = 30
    register_window_s: int = 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    cookie_secure: bool = False  # also set automatically when the request came over https
    # Scheduled sessions (chat_server/events/): the longest each gateway's scheduler sleeps
    # (it sleeps until the next change is due and is woken when any gateway changes a session;
    # this is the backstop), how long after ends_at a live session ends by itself, how long
    # after its end the archive is published by itself, and the video hosts the page may
    # embed (the CSP's frame-src lists exactly these; other links only open in a new tab).
    event_tick_s: float = 30.0
    event_grace_s: float = 600.0
    event_archive_after_s: float = 86400.0
    video_embed_hosts: tuple[str, ...] = ()
    # Questions to experts (chat_server/questions/): how many questions one member may ask per
    # window (across every gateway: the counter lives where the key-phrase one does), and how
    # often at most a question's vote count goes out to the members of a room.
    question_rate: int = 10
    question_window_s: int = 600
    question_batch_s: float = 0.25
    # The optional email digest of notifications (docs/social.md): sent only through this
    # SMTP server (smtp://host:port, or smtps:// for TLS; user:password@ if it needs them);
    # None sends no email at all. How often a gateway looks for digests that are due.
    smtp_url: str | None = None
    smtp_from: str = "Kindred <no-reply@localhost>"
    digest_check_s: float = 300.0
    digest_every_s: float = 86400.0  # "daily"
    # Friend requests (docs/social.md): how many new requests one member may make per window,
    # across every gateway (the counter lives where the key-phrase one does).
    friend_request_rate: int = 20
    friend_request_window_s: int = 600
    # Private-message requests (docs/social.md): how many new requests (to members who are not
    # friends, so they must accept first) one member may start per window, across gateways.
    conversation_request_rate: int = 10
    conversation_request_window_s: int = 3600
    # A private talk with the navigator on duty (docs/social.md): how long a member's request
    # waits with nobody accepting before they are shown the crisis resources (it keeps
    # waiting), and how long before it lapses and leaves the queue.
    private_talk_wait_s: float = 300.0
    private_talk_expire_s: float = 3600.0
    gateway_id: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "kindred.db"

    @property
    def postgres_plain_local(self) -> bool:
        """Whether a PostgreSQL on this machine may skip asyncpg's TLS-first request."""
        return not self.pg_sslmode

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def send_rate_per_s(self) -> float:
        return self.send_rate / 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``KINDRED_<FIELD>`` variables (upper case), then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            name = f"KINDRED_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _PARSERS[f.name](raw)
            except (ValueError, KeyError) as exc:
                problems.append(f"{name}={raw!r}: {exc}")
        if env.get("PGSSLMODE"):
            values.setdefault("pg_sslmode", env["PGSSLMODE"])
        values.update(overrides)
        try:
            settings = cls(**values)
        except TypeError as exc:
            raise SettingsError(str(exc)) from None
        problems.extend(settings._problems())
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
        return settings

    def _problems(self) -> list[str]:
        out = []
        for name in ("port", "send_burst", "max_frame_bytes", "outbox_max_frames",
                     "max_connections_per_member", "max_rooms_per_connection", "replay_window",
                     "heartbeat_interval_s", "subscription_check_s", "typing_interval_s",
                     "presence_ttl_s", "ping_interval_s", "http_keep_alive_s", "session_ttl_days",
                     "max_body_chars",
                     "strikes_before_close", "max_resume", "write_stall_s", "writer_batch",
                     "writer_queue_max", "writer_claim_idle_s", "moderation_cache_s",
                     "login_attempts", "login_address_attempts", "register_attempts",
                     "register_key_attempts", "register_window_s", "key_phrase_window_s",
                     "redis_max_connections", "event_tick_s",
                     "question_rate", "question_window_s", "question_batch_s",
                     "presence_list_max", "fan_out_turn", "digest_check_s", "digest_every_s",
                     "friend_request_rate", "friend_request_window_s",
                     "conversation_request_rate", "conversation_request_window_s",
                     "private_talk_wait_s", "private_talk_expire_s"):
            if getattr(self, name) <= 0:
                out.append(f"KINDRED_{name.upper()} must be positive")
        if self.send_rate <= 0:
            out.append("KINDRED_SEND_RATE must be positive (messages per minute)")
        if not 0 <= self.history_gap_wait_s <= 30:  # also refuses nan
            out.append("KINDRED_HISTORY_GAP_WAIT_S must be between 0 and 30 (seconds)")
        if not 0 <= self.writer_gather_s <= 5:  # also refuses nan; inf would stop the writer
            out.append("KINDRED_WRITER_GATHER_S must be between 0 and 5 (seconds)")
        if self.replay_window < 1000:
            out.append("KINDRED_REPLAY_WINDOW must be at least 1000")
        if self.presence_batch_s < 0 or self.presence_linger_s < 0:
            out.append("KINDRED_PRESENCE_BATCH_S and KINDRED_PRESENCE_LINGER_S must not be negative")
        if self.presence_linger_s + self.heartbeat_interval_s >= self.presence_ttl_s:
            # A lingering entry is no longer refreshed: it must outlive the linger.
            out.append("KINDRED_PRESENCE_LINGER_S plus KINDRED_HEARTBEAT_INTERVAL_S must be "
                       "under KINDRED_PRESENCE_TTL_S")
        if self.presence_ttl_s < 2 * self.heartbeat_interval_s:
            out.append("KINDRED_PRESENCE_TTL_S must be at least twice KINDRED_HEARTBEAT_INTERVAL_S")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            out.append("KINDRED_REDIS_URL must start with redis://, rediss:// or unix://")
        if self.database_url and not self.database_url.startswith(("sqlite", "postgresql")):
            out.append("KINDRED_DATABASE_URL must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        if self.ws_impl not in ("direct", "websockets-sansio", "websockets", "wsproto"):
            out.append("KINDRED_WS_IMPL must be direct, websockets-sansio, websockets or wsproto")
        if self.event_loop not in ("auto", "uvloop", "asyncio"):
            out.append("KINDRED_EVENT_LOOP must be auto, uvloop or asyncio")
        if self.loop_lag_probe_ms < 0:
            out.append("KINDRED_LOOP_LAG_PROBE_MS must not be negative (0: off)")
        if self.event_grace_s < 0 or self.event_archive_after_s < 0:
            out.append("KINDRED_EVENT_GRACE_S and KINDRED_EVENT_ARCHIVE_AFTER_S must not be negative")
        for host in self.video_embed_hosts:
            if not _HOST.fullmatch(host):
                out.append(f"KINDRED_VIDEO_EMBED_HOSTS: {host!r} is not a host name (e.g. video.example.org)")
        if self.private_talk_expire_s <= self.private_talk_wait_s:
            out.append("KINDRED_PRIVATE_TALK_EXPIRE_S must be longer than KINDRED_PRIVATE_TALK_WAIT_S")
        if self.smtp_url is not None and not self.smtp_url.startswith(("smtp://", "smtps://")):
            out.append("KINDRED_SMTP_URL must start with smtp:// or smtps://")
        if self.secret_key is not None and len(self.secret_key) < 32:
            out.append("KINDRED_SECRET_KEY must have at least 32 characters")
        return out


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())


def _database_url(raw: str) -> str:
    # Accept the plain forms operators type and pick the async drivers we ship.
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://"):]
    if raw.startswith("postgresql://"):
        raw = "postgresql+asyncpg://" + raw[len("postgresql://"):]
    if raw.startswith("sqlite:///"):
        raw = "sqlite+aiosqlite:///" + raw[len("sqlite:///"):]
    return raw


_PARSERS: dict[str, Callable[[str], Any]] = {
    "data_dir": Path,
    "database_url": _database_url,
    "pg_sslmode": str,
    "redis_url": str,
    "redis_max_connections": int,
    "host": str,
    "port": int,
    "allowed_origins": _origins,
    "trusted_proxies": str,
    "secret_key": str,
    "web_root": Path,
    "log_level": str,
    "send_rate": float,
    "send_burst": int,
    "strikes_before_close": int,
    "max_body_chars": int,
    "typing_interval_s": float,
    "max_frame_bytes": int,
    "max_connections_per_member": int,
    "max_rooms_per_connection": int,
    "outbox_max_frames": int,
    "write_stall_s": float,
    "ping_interval_s": float,
    "http_keep_alive_s": float,
    "ws_impl": str,
    "event_loop": str,
    "loop_lag_probe_ms": float,
    "shutdown_grace_s": float,
    "replay_window": int,
    "max_resume": int,
    "run_writer": _bool,
    "writer_batch": int,
    "writer_queue_max": int,
    "writer_claim_idle_s": float,
    "history_gap_wait_s": float,
    "writer_gather_s": float,
    "presence_ttl_s": float,
    "heartbeat_interval_s": float,
    "presence_batch_s": float,
    "presence_linger_s": float,
    "presence_list_max": int,
    "fan_out_turn": int,
    "subscription_check_s": float,
    "moderation_cache_s": float,
    "session_ttl_days": int,
    "key_phrase_attempts": int,
    "key_phrase_window_s": int,
    "login_attempts": int,
    "login_address_attempts": int,
    "register_attempts": int,
    "register_key_attempts": int,
    "register_window_s": int,
    "argon2_time_cost": int,
    "argon2_memory_kib": int,
    "cookie_secure": _bool,
    "event_tick_s": float,
    "event_grace_s": float,
    "event_archive_after_s": float,
    "video_embed_hosts": _hosts,
    "question_rate": int,
    "question_window_s": int,
    "question_batch_s": float,
    "smtp_url": str,
    "smtp_from": str,
    "digest_check_s": float,
    "digest_every_s": float,
    "friend_request_rate": int,
    "friend_request_window_s": int,
    "conversation_request_rate": int,
    "conversation_request_window_s": int,
    "private_talk_wait_s": float,
    "private_talk_expire_s": float,
    "gateway_id": str,
}
