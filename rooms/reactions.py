"""The fixed set of supportive reactions (rooms/data/reactions.toml) and the rule for a name."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rooms.errors import UnknownReaction

_DATA = Path(__file__).with_name("data") / "reactions.toml"
MAX_NAMES_SHOWN = 20  # handles listed per reaction; the count is always whole


@dataclass(frozen=True, slots=True)
class ReactionKind:
    name: str
    label: str
    symbol: str


@cache
def catalog() -> tuple[ReactionKind, ...]:
    with _DATA.open("rb") as f:
        data = tomllib.load(f)
    return tuple(ReactionKind(r["name"], r["label"], r["symbol"]) for r in data["reaction"])


def names() -> tuple[str, ...]:
    return tuple(r.name for r in catalog())


def check(name: object) -> str:
    """The name if it is one of the set; else ``UnknownReaction`` naming the set."""
    if not isinstance(name, str) or name not in names():
        raise UnknownReaction(f"unknown reaction: use one of {', '.join(names())}")
    return name
