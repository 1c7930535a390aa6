"""The browser's "Here now" list in a big room (protocol §5.4, since 1.1): past
``KINDRED_PRESENCE_LIST_MAX`` members it shows a sample and the count, and pages the whole
list from the server only when asked. Both modes; the cap is lowered to 2 so four people
make a big room."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from support.browser import Browsers, open_room, people
from support.cluster import Deployment, deployment_in_mode

ENV = {"KINDRED_PRESENCE_LIST_MAX": "2", "KINDRED_PRESENCE_BATCH_S": "0.05"}


@pytest.fixture(scope="module", params=["embedded", "redis"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deployment_in_mode(request, tmp_path_factory, "bigroom-web", ENV)


def test_a_big_rooms_list_shows_the_count_and_pages_everyone_on_request(
    site: Deployment, web: Browsers
) -> None:
    name, phrase, (room, _, _) = site.new_org()
    members = [site.register((name, phrase)) for _ in range(4)]
    pages = []
    for member in members:
        page = web.person(member=member).page
        open_room(page, room)
        pages.append(page)
    first, last = pages[0], pages[-1]
    # The last to come was given a sample of two and the count of four.
    expect(people(last).get_by_role("heading")).to_have_text("Here now (4)")
    expect(people(last).locator("li")).to_have_count(2)
    expect(people(last)).to_contain_text("Showing 2 of 4.")
    # The first follows the count, though nobody past the second is named to it any more.
    expect(people(first).get_by_role("heading")).to_have_text("Here now (4)")
    # Asked for, the whole list comes, by keyboard as by mouse.
    button = people(last).get_by_role("button", name="Show everyone here")
    button.focus()
    button.press("Enter")
    expect(people(last).locator("li")).to_have_count(4)
    for member in members:
        expect(people(last)).to_contain_text(member.handle)
    expect(people(last).get_by_role("button")).to_have_count(0)
