"""Who may see and join which room."""

from __future__ import annotations

from rooms.model import Community, Member
from rooms.roles import Role

# A private conversation's room (rooms/conversations.py): no room rule ever opens it; only its
# participants get in, through the conversations' own gate. Spelled here, not imported, so
# the rules of access do not depend on the conversations' module.
PRIVATE_KIND = "dm"


def can_see(member: Member, community: Community) -> bool:
    """Every member sees every national room; a local room only its organization's members.

    Platform admins see everything so they can support every organization. Nobody sees a
    private conversation by these rules, admins included: its participants are let in by the
    conversations' gate (chat_server/conversations/gates.py), everyone else is told it does
    not exist.
    """
    if community.kind == PRIVATE_KIND:
        return False
    if community.org_id is None:
        return True
    if member.role is Role.ADMIN:
        return True
    return member.org_id == community.org_id


def can_join(member: Member, community: Community) -> bool:
    """Joining follows seeing for now; moderation (bans, kicks) adds refusals later."""
    return can_see(member, community)
