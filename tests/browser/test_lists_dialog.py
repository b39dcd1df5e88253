"""The Lists view: the server's refusals shown at their field in a dialog that stays open,
Trakt refused without a client id (with the fix), and a list's state shown live."""

from __future__ import annotations

from typing import Any

from cacherr import keys
from tests.browser.conftest import SESSION_LOOP, Served, log_in, playwright_api
from tests.foundation.test_cli import free_port

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect


def closed_url() -> str:
    """An http address where nothing listens (a port bound, then released)."""
    return f"http://127.0.0.1:{free_port()}/list.rss"


async def open_add_dialog(page: Any, served: Served) -> Any:
    await log_in(page, served)
    await page.click('#nav a[data-view="lists"]')
    await page.click("button:has-text('Add a list')")
    dialog = page.locator("#dialog")
    await expect(dialog).to_be_visible()
    return dialog


async def test_a_refused_list_keeps_the_dialog_open(
    page: Any, served: Served, expected_statuses: set[int]
) -> None:
    expected_statuses.add(400)  # the refused saves
    dialog = await open_add_dialog(page, served)
    await dialog.locator("[name=name]").fill("favourites")
    await dialog.locator("[name=provider]").select_option("imdb")
    await dialog.locator("[name=source]").fill("my favourites")
    await dialog.locator("button[value=ok]").click()
    error = dialog.locator('.field-error[data-for="source"]')
    await expect(error).to_contain_text("an IMDb source is a list id (ls…)")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[name=name]")).to_have_value("favourites")
    await expect(dialog.locator("[name=source]")).to_have_value("my favourites")
    assert served.store.current.lists.definitions == []

    # A Trakt list without a client id: refused, and the error says how to get one.
    await dialog.locator("[name=provider]").select_option("trakt")
    await dialog.locator("[name=source]").fill("sean/picks")
    await dialog.locator("button[value=ok]").click()
    await expect(dialog.locator('.field-error[data-for="provider"]')).to_contain_text(
        "https://trakt.tv/oauth/applications"
    )
    await expect(error).to_have_text("")
    await expect(dialog).to_be_visible()
    assert served.store.current.lists.definitions == []

    # Corrected, it is saved and the dialog closes.
    await dialog.locator("[name=provider]").select_option("rss")
    await dialog.locator("[name=source]").fill(closed_url())
    await dialog.locator("button[value=ok]").click()
    await expect(dialog).to_be_hidden()
    await page.locator('#lists-body [data-list="favourites"]').wait_for()
    assert [d.name for d in served.store.current.lists.definitions] == ["favourites"]


async def test_a_lists_state_updates_live(page: Any, served: Served) -> None:
    served.store.save(
        {"lists": {"definitions": [{"name": "feed", "provider": "rss", "source": closed_url()}]}}
    )
    await log_in(page, served)
    await page.click('#nav a[data-view="lists"]')
    card = page.locator('#lists-body [data-list="feed"]')
    await card.wait_for()
    await expect(card.locator(".pill", has_text="failed")).to_have_count(0)
    # The scheduler's own refresh (fetching it now, as its timer would): no reload needed.
    status = await served.app[keys.LISTS].refresh("feed")
    assert status.state == "failed"
    await expect(card.locator(".pill", has_text="failed")).to_be_visible()
    await expect(card.locator("p.error")).to_have_text(status.error or "")


async def test_a_view_left_before_it_loaded_does_not_replace_the_next(
    page: Any, served: Served
) -> None:
    """The dashboard is left while its activity feed is still on its way (held back here
    in the browser); when the feed arrives, the dashboard's elements are gone. That late
    answer must not replace the Lists view the person went to."""
    held: list[Any] = []

    async def hold(route: Any) -> None:
        held.append(route)

    await page.route("**/api/activity?*", hold)
    await log_in(page, served)
    await page.click('#nav a[data-view="lists"]')
    await expect(page.locator("button:has-text('Add a list')")).to_be_visible()
    assert held  # the feed asked for on the dashboard has not arrived yet
    for route in held:
        await route.continue_()
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("button:has-text('Add a list')")).to_be_visible()
    await expect(page.locator("#main p.error")).to_have_count(0)
