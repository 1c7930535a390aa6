"""Roles and their ranks."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role on the platform, lowest rank first."""

    MEMBER = "member"
    EXPERT = "expert"
    NAVIGATOR = "navigator"
    ORG_ADMIN = "org_admin"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for member up to 4 for admin; a higher rank may act on a lower one only."""
        return _RANKS[self]

    @classmethod
    def parse(cls, value: str) -> Role:
        """Return the role named ``value``; raise ``ValueError`` listing the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r}; expected one of: {names}") from None


_RANKS: dict[Role, int] = {role: index for index, role in enumerate(Role)}
