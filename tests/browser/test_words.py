"""The page says what is wrong and what to do, never a state code or an exception's name."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SESSION_LOOP, Served, log_in, playwright_api
from tests.foundation.test_cli import free_port

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect

CODES = ("not_configured", "ClientConnectorError", "ConnectionError", "must start with")


async def test_plex_not_set_up_in_words(
    page: Any, served: Served, expected_statuses: set[int]
) -> None:
    expected_statuses.add(400)  # the test button with empty fields
    await log_in(page, served)
    card = page.locator("#card-plex")
    await expect(card.locator(".value")).to_have_text("Not set up")
    await expect(card).to_contain_text("Enter them under Settings → Plex")
    for code in CODES:
        await expect(card).not_to_contain_text(code)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="plex"]')
    result = page.locator("#plex-test-result")
    await page.click("button:has-text('Test the connection')")
    await expect(result).to_have_text(
        "Enter the Plex server's address first, e.g. http://192.168.1.10:32400, and its token."
    )
    await page.fill('[name="plex.url"]', "192.168.1.10:32400")
    await page.click("button:has-text('Test the connection')")
    await expect(result).to_contain_text("with http:// or https:// in front")
    url = f"http://127.0.0.1:{free_port()}"
    await page.fill('[name="plex.url"]', url)
    await page.fill('[name="plex.token"]', "a-token")
    await page.click("button:has-text('Test the connection')")
    await expect(result).to_contain_text(f"Nothing answers at {url}. Check the address and port")
    for code in CODES:
        await expect(result).not_to_contain_text(code)


async def test_an_unreachable_plex_in_words(page: Any, served: Served) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="plex"]')
    await page.fill('[name="plex.url"]', url)
    await page.fill('[name="plex.token"]', "a-token")
    await page.click("#settings-body form.settings button[type=submit]")
    await page.locator(".toast.ok", has_text="Settings saved").wait_for()
    await page.click('#nav a[data-view="dashboard"]')
    card = page.locator("#card-plex")
    await expect(card.locator(".value")).to_have_text("Unreachable", timeout=20_000)
    await expect(card).to_contain_text(f"Plex at {url}: nothing answers at that address.")
    await expect(card).to_contain_text("and that Plex is running")
    for code in CODES:
        await expect(card).not_to_contain_text(code)
