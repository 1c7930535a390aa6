"""The national community catalog and the default local rooms, shipped as data."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

KINDS = ("cancer_type", "supportive_care", "local")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


@dataclass(frozen=True, slots=True)
class CommunitySpec:
    slug: str
    name: str
    kind: str
    description: str


@dataclass(frozen=True, slots=True)
class LocalRoomSpec:
    suffix: str
    name: str
    description: str

    def for_org(self, org_slug: str, org_name: str) -> CommunitySpec:
        return CommunitySpec(
            slug=f"{org_slug}-{self.suffix}",
            name=self.name.replace("{org}", org_name),
            kind="local",
            description=self.description.replace("{org}", org_name),
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    communities: tuple[CommunitySpec, ...]
    local_rooms: tuple[LocalRoomSpec, ...]


def parse(data: dict[str, Any]) -> Catalog:
    """Validate the catalog document; raise ``ValueError`` naming the first bad entry."""
    communities: list[CommunitySpec] = []
    seen: set[str] = set()
    for entry in data.get("community", []):
        spec = CommunitySpec(
            slug=str(entry["slug"]),
            name=str(entry["name"]),
            kind=str(entry["kind"]),
            description=str(entry.get("description", "")),
        )
        if not _SLUG.fullmatch(spec.slug) or spec.slug in seen:
            raise ValueError(f"catalog: bad or duplicate slug {spec.slug!r}")
        if spec.kind not in KINDS[:2]:
            raise ValueError(f"catalog: {spec.slug}: unknown kind {spec.kind!r}")
        seen.add(spec.slug)
        communities.append(spec)
    locals_ = tuple(
        LocalRoomSpec(str(e["suffix"]), str(e["name"]), str(e.get("description", "")))
        for e in data.get("local_room", [])
    )
    return Catalog(tuple(communities), locals_)


def load() -> Catalog:
    """The catalog shipped with this release (rooms/data/catalog.toml)."""
    text = resources.files("rooms").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    return parse(tomllib.loads(text))


def is_slug(value: str) -> bool:
    """Whether ``value`` could name a room at all (checked before any lookup)."""
    return _SLUG.fullmatch(value) is not None


def slugify(name: str) -> str:
    """A URL-safe slug for an organization name: 'St. Mary's Hospital' -> 'st-mary-s-hospital'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40].strip("-") or "org"
