"""The admin in a real browser: headless Chromium (Debian's) driven by Playwright.

Support staff log in (phone number and password, then the code their authenticator app
shows, computed here from the TOTP key the enrolment made), find a user by a phone number typed in local format, open them,
block them with a reason; the test then checks the status history and that their
sessions were revoked, here and at the Tokenizer. A screenshot of the result is saved
as a test artifact (artifacts/admin-block-user.png; CI uploads the directory).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from accounts.models import StatusHistory, User, UserStatus
from authenticator.flows.common import sign_in_complete
from authenticator.flows.staff_otp import staff_otp_enrol
from authenticator.tokenizer import tokenizer
from sessions_log.models import LoginState, LoginStatus
from sessions_log.services import Requester
from tests.factories import UserFactory

from .conftest import SUPPORT_PASSWORD, make_support, totp_code

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.django_db(transaction=True)  # the live server thread must see the rows


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium), or set CHROMIUM.", pytrace=False)
    # Playwright's sync API keeps an event loop on this thread; the ORM calls the test
    # makes between browser steps are still plain blocking calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_support_staff_block_a_user_found_by_a_local_phone_number(live_server, browser_page):
    support = make_support(phone_number="+447400900001", name="Sam Support")
    device = staff_otp_enrol(user=support, backup_codes=0).device
    user = UserFactory(phone_number="+447400123456", country_id="GB", name="Ann Lee", status=UserStatus.ACTIVE)
    UserFactory(phone_number="+447400123457", name="Someone Else")
    signed = [
        sign_in_complete(user=user, requester=Requester(platform=p, ip="81.2.69.160", user_agent="app/1"), method="otp_sms")
        for p in ("ios 18 / iPhone 15", "android 15 / Pixel 9")
    ]
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/?next=/admin/accounts/user/")
    page.fill("#id_username", "+447400900001")
    page.fill("#id_password", SUPPORT_PASSWORD)
    page.click("input[type=submit]")
    # The password was right: now the second factor (django-otp's admin login form).
    page.wait_for_selector("#id_otp_device")
    assert "/admin/login/" in page.url
    page.select_option("#id_otp_device", device.persistent_id)
    page.fill("#id_otp_token", totp_code(device))
    page.click("input[type=submit]:not([name=otp_challenge])")
    page.wait_for_url(re.compile(r"/admin/accounts/user/$"))

    page.fill("#searchbar", "07400 123456")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"/admin/accounts/user/\?q="))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Ann Lee" in rows.first.inner_text()

    rows.first.locator("th a").click()
    page.wait_for_url(re.compile(rf"/admin/accounts/user/{user.pk}/change/"))
    assert "ios 18 / iPhone 15" in page.content()  # the login states are on the page

    page.click("a.support-action:text-is('Block')")
    page.wait_for_url(re.compile(rf"/admin/accounts/user/{user.pk}/support/block/$"))
    page.fill("textarea[name=reason]", "Reported fraud, ticket 4711")
    page.click("input[name=apply]")
    page.wait_for_url(re.compile(rf"/admin/accounts/user/{user.pk}/change/"))

    assert page.locator("ul.messagelist li.success").inner_text() == "Blocked 1 user(s)."
    history_text = page.locator("#status_histories-group").inner_text()
    assert "Reported fraud, ticket 4711" in history_text and "Blocked" in history_text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "admin-block-user.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    assert User.objects.get(pk=user.pk).status == UserStatus.BLOCKED
    last = StatusHistory.objects.filter(user=user).order_by("-updated_at", "-id").first()
    assert (last.previous_status, last.status, last.reason, last.actor_id, last.actor_label) == (
        "active", "blocked", "Reported fraud, ticket 4711", support.pk, "admin")
    assert list(LoginState.objects.filter(user=user).values_list("status", flat=True)) == [LoginStatus.REVOKED] * 2
    for done in signed:
        assert tokenizer().introspect(token=done.tokens.access_token).active is False
