"""The browser client after a registration the server does not tell apart (issue 13): with an
email that already has an account, the page does not sign in, and says why in plain words."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect

from support.browser import Browsers, register_in_page
from support.cluster import ORG_A, Deployment


def _handle() -> str:
    return "rp" + "".join(secrets.choice("bcdefhijklmnpqrstuvwyz") for _ in range(10))


def test_registering_a_taken_email_says_to_sign_in_instead(site: Deployment, web: Browsers) -> None:
    victim = site.register()
    p = web.person()
    page = p.page
    page.goto("/#/register")
    page.get_by_label("Organization key phrase").fill(ORG_A[1])
    page.get_by_label("Handle (public name)").fill(_handle())
    page.get_by_label("Email address").fill(victim.email)
    page.get_by_label("Password", exact=True).fill("a different password")
    page.get_by_role("button", name="Create account").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("We could not sign you in")
    expect(alert).to_contain_text("may already have an account")
    expect(page.get_by_role("heading", level=1, name="Create an account")).to_be_visible()
    # A new email still registers and signs in at once, as before.
    handle = _handle()
    register_in_page(web.person().page, ORG_A[1], handle, f"{handle}@example.org")
