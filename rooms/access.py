"""Who may see and join which room."""

from __future__ import annotations

from rooms.model import Community, Member
from rooms.roles import Role


def can_see(member: Member, community: Community) -> bool:
    """Every member sees every national room; a local room only its organization's members.

    Platform admins see everything so they can support every organization.
    """
    if community.org_id is None:
        return True
    if member.role is Role.ADMIN:
        return True
    return member.org_id == community.org_id


def can_join(member: Member, community: Community) -> bool:
    """Joining follows seeing for now; moderation (bans, kicks) adds refusals later."""
    return can_see(member, community)
