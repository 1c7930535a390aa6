"""Crisis resources: what a member whose message matched the crisis list is shown privately.

Each organization may configure its own list (hotlines of its country and its own
navigators' numbers); the defaults ship in ``rooms/data/crisis_resources.toml``. Pure apart
from reading that file.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import resources

_FIELDS = ("name", "contact", "url", "hours")
MAX_ITEMS = 12


@dataclass(frozen=True, slots=True)
class CrisisResources:
    text: str
    items: tuple[dict[str, str], ...]

    def frame_fields(self) -> dict[str, object]:
        return {"text": self.text, "items": [dict(i) for i in self.items]}

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "items": list(self.items)}, ensure_ascii=False)


def parse(data: object) -> CrisisResources:
    """Validate ``{"text": str, "items": [{"name", "contact", "url"?, "hours"?}, ...]}``;
    raise ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("resources must be a table with 'text' and 'items'")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 600:
        raise ValueError("'text' must be 1 to 600 characters")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
        raise ValueError(f"'items' must list 1 to {MAX_ITEMS} resources")
    items: list[dict[str, str]] = []
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise ValueError(f"item {i + 1} must be a table")
        unknown = set(raw) - set(_FIELDS)
        if unknown:
            raise ValueError(f"item {i + 1}: unknown fields {sorted(unknown)}")
        item = {}
        for key in _FIELDS:
            value = raw.get(key)
            if value is None:
                if key in ("name", "contact"):
                    raise ValueError(f"item {i + 1} needs '{key}'")
                continue
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise ValueError(f"item {i + 1}: '{key}' must be 1 to 200 characters")
            if key == "url" and not value.startswith("https://"):
                raise ValueError(f"item {i + 1}: 'url' must start with https://")
            item[key] = value.strip()
        items.append(item)
    return CrisisResources(text.strip(), tuple(items))


def defaults() -> CrisisResources:
    text = resources.files("rooms").joinpath("data/crisis_resources.toml").read_text("utf-8")
    return parse(tomllib.loads(text))


def from_json(stored: str | None, fallback: CrisisResources) -> CrisisResources:
    """An organization's stored list, or ``fallback`` when it has none (or it is unreadable)."""
    if not stored:
        return fallback
    try:
        return parse(json.loads(stored))
    except ValueError:
        return fallback
