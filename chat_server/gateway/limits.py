"""What a hub is allowed and how often it does its periodic work: the settings it is built
with (chat_server/config.py's, through runtime.py; the in-process test tier's own)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.gateway.fanout import DEFAULT_TURN


@dataclass(frozen=True, slots=True)
class HubLimits:
    send_rate_per_s: float
    send_burst: int
    max_body_chars: int
    max_rooms_per_connection: int
    replay_window: int
    max_resume: int
    typing_interval_s: float
    heartbeat_interval_s: float
    check_interval_s: float
    presence_batch_s: float = 0.25
    presence_linger_s: float = 0.0
    presence_list_max: int = 100  # joined.present and presence frames in big rooms (§5.4)
    fan_out_turn: int = DEFAULT_TURN  # connections written to in one turn of the loop (fanout.py)
