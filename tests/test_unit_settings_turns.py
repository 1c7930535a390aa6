"""The settings behind the fan-out's turns and the transcript writer's wait: read from the
environment, refused when out of range (with the setting's name), defaults as documented."""

from __future__ import annotations

import pytest

from chat_server.config import Settings, SettingsError
from chat_server.gateway.fanout import DEFAULT_TURN

pytestmark = pytest.mark.unit


def test_defaults_and_values_from_the_environment() -> None:
    default = Settings.from_env({})
    assert default.fan_out_turn == DEFAULT_TURN == 64 and default.writer_gather_s == 0.05
    s = Settings.from_env({"KINDRED_FAN_OUT_TURN": "128", "KINDRED_WRITER_GATHER_S": "0.2"})
    assert s.fan_out_turn == 128 and s.writer_gather_s == 0.2
    assert Settings.from_env({"KINDRED_WRITER_GATHER_S": "0"}).writer_gather_s == 0


@pytest.mark.parametrize(("name", "value"), [
    ("KINDRED_FAN_OUT_TURN", "0"), ("KINDRED_FAN_OUT_TURN", "-3"), ("KINDRED_FAN_OUT_TURN", "many"),
    ("KINDRED_WRITER_GATHER_S", "-0.1"), ("KINDRED_WRITER_GATHER_S", "soon"),
    ("KINDRED_WRITER_GATHER_S", "inf"), ("KINDRED_WRITER_GATHER_S", "nan"),
    ("KINDRED_WRITER_GATHER_S", "50"),  # milliseconds meant: history would trail by 50 s
])
def test_out_of_range_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
