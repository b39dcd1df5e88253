"""Every view and every Settings tab opens without a script or console error, and each form
saves once, landing in cacherr.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cacherr.security.passwords import MIN_LENGTH
from tests.browser.conftest import (
    PASSWORD,
    SESSION_LOOP,
    Served,
    log_in,
    playwright_api,
    seed,
    submit_setup,
)

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect

# One field of each Settings tab, the value typed into it, and as cacherr.json holds it.
TABS = [
    ("general", "general.config_poll_interval_ms", "750", 750),
    ("plex", "sessions.poll_interval_s", "20", 20),
    ("paths", "mover.exclude_file", "excluded.txt", "excluded.txt"),
    ("cache", "cache.next_episodes", "7", 7),
    ("notifications", "notifications.batch_window_s", "45", 45),
    ("lists", "lists.trakt_client_id", "a-client-id", "a-client-id"),
    ("security", "webhook.max_body_bytes", "2000000", 2000000),
]


# Text nodes that are only a JavaScript value printed by mistake.
STRAY_TEXT = """() => {
  const walker = document.createTreeWalker(document.getElementById('main'), NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    if (['null', 'undefined', 'NaN', '[object Object]'].includes(text)) found.push(text);
  }
  return found;
}"""


def saved(served: Served) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(served.store.path.read_text())
    return data


async def test_every_view_opens(page: Any, served: Served) -> None:
    await log_in(page, served)
    for view in ("dashboard", "files", "users", "lists", "settings", "maintenance"):
        await page.click(f'#nav a[data-view="{view}"]')
        await expect(page.locator("#main")).to_have_attribute("data-view", view)
        await expect(page.locator("#main > p.muted", has_text="Loading…")).to_have_count(0)
        await expect(page.locator("#main .error", has_text="Could not load")).to_have_count(0)
        assert await page.evaluate(STRAY_TEXT) == [], view


async def test_the_audit_prints_no_null(page: Any, served: Served) -> None:
    await log_in(page, served)
    await page.click('#nav a[data-view="maintenance"]')
    await page.click("button:has-text('Run the audit')")
    await page.locator("#audit table").wait_for()
    assert await page.evaluate(STRAY_TEXT) == []
    await expect(page.locator("#audit")).not_to_contain_text("null")


async def test_every_settings_tab_opens_and_saves(page: Any, served: Served) -> None:
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    for tab, name, typed, stored in TABS:
        section, key = name.split(".")
        await page.click(f'#settings-tabs button[data-tab="{tab}"]')
        # The highlighted tab and the form under it agree.
        await expect(page.locator("#settings-tabs button.on")).to_have_attribute("data-tab", tab)
        await expect(page.locator("#settings-body form.settings")).to_have_attribute(
            "data-section", tab
        )
        await page.fill(f'[name="{name}"]', typed)
        await page.click("#settings-body form.settings button[type=submit]")
        await page.locator(".toast.ok", has_text="Settings saved").last.wait_for()
        assert saved(served)[section][key] == stored, tab
        await page.evaluate("document.getElementById('toasts').replaceChildren()")


async def test_notification_urls_are_set_replaced_and_removed(page: Any, served: Served) -> None:
    """The apprise URLs are write-only: shown as a count, replaced by typing, removable."""
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="notifications"]')
    urls = page.locator('[name="notifications.urls"]')
    await expect(urls).to_have_attribute("placeholder", "none set — one per line")
    await urls.fill("json://127.0.0.1:9/one\njson://127.0.0.1:9/two")
    await page.click("#settings-body form.settings button[type=submit]")
    await page.locator(".toast.ok", has_text="Settings saved").wait_for()
    assert saved(served)["notifications"]["urls"] == [
        "json://127.0.0.1:9/one",
        "json://127.0.0.1:9/two",
    ]
    await expect(urls).to_have_value("")  # never shown again
    await expect(urls).to_have_attribute(
        "placeholder", "2 set — type new ones (one per line) to replace them all"
    )
    await page.get_by_label("Remove all 2").check()
    await page.click("#settings-body form.settings button[type=submit]")
    await expect(urls).to_have_attribute("placeholder", "none set — one per line")
    assert saved(served)["notifications"]["urls"] == []


async def test_the_password_form_changes_the_password(page: Any, served: Served) -> None:
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="security"]')
    await page.fill('[name="current"]', PASSWORD)
    await page.fill('[name="new"]', "a new and long password")
    await page.fill('[name="repeat"]', "a new and long password")
    await page.click("button:has-text('Change the password')")
    await page.locator(".toast.ok").last.wait_for()
    await expect(page.locator('[name="current"]')).to_have_value("")


async def test_the_password_rule_is_the_servers(
    page: Any, served: Served, expected_statuses: set[int]
) -> None:
    """The page states the rule the server enforces (one number, from the server)."""
    expected_statuses.add(400)  # the refused short password
    rule = f"{MIN_LENGTH} characters or more"
    await page.goto(served.url + "/")
    await expect(page.locator("#auth-intro")).to_contain_text(rule)
    await submit_setup(page, served, "x" * (MIN_LENGTH - 1))
    await expect(page.locator("#auth-error")).to_have_text(
        f"the password needs at least {MIN_LENGTH} characters"
    )
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="security"]')
    await expect(page.locator("label", has_text="New password (")).to_contain_text(rule)


# No page, no loop: the module's session-loop mark means nothing to it.
@pytest.mark.filterwarnings("ignore:.*is marked with '@pytest.mark.asyncio' but it is not an async")
def test_the_readme_states_the_same_rule() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"a password needs {MIN_LENGTH} characters or more" in readme


async def test_a_users_settings_save_and_point_to_the_defaults(page: Any, served: Served) -> None:
    """The dialog saves a user's own settings and links to where the defaults really are."""
    await seed(served)
    await log_in(page, served)
    await page.click('#nav a[data-view="users"]')
    await page.locator('#users-body tr[data-user="carol"] button', has_text="Settings").click()
    await page.fill("#dialog [name=episodes_ahead]", "4")
    await page.click("#dialog button[value=ok]")
    await page.locator('#users-body tr[data-user="carol"] .pill', has_text="custom").wait_for()
    assert saved(served)["users"]["overrides"]["carol"]["episodes_ahead"] == 4
    await page.locator('#users-body tr[data-user="bob"] button', has_text="Settings").click()
    await page.click("#dialog a:has-text('Settings → Cache & retention → Per-user settings')")
    await expect(page.locator("#dialog")).not_to_be_visible()
    await expect(page.locator("#settings-tabs button.on")).to_have_attribute("data-tab", "cache")
    pointed = page.locator('#settings-body fieldset[data-path="users.home"]')
    await expect(pointed).to_have_class("pointed")
    await expect(pointed).to_be_in_viewport()


async def test_the_mappings_and_the_simulator_forms(page: Any, served: Served) -> None:
    movies_array, movies_cache = served.array.parent / "movies", served.cache.parent / "movies"
    movies_array.mkdir()
    movies_cache.mkdir()
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="paths"]')
    await page.click("button:has-text('Add a mapping')")
    row = page.locator("tr.mapping").last
    for name, value in (("name", "movies"), ("plex", "/data/movies"),
                        ("array", str(movies_array)), ("cache", str(movies_cache))):  # fmt: skip
        await row.locator(f"[name={name}]").fill(value)
    await page.click("button:has-text('Save mappings')")
    await page.locator(".toast.ok").last.wait_for()
    assert [m["name"] for m in saved(served)["paths"]["mappings"]] == ["tv", "movies"]
    await page.click('#nav a[data-view="maintenance"]')
    await page.fill("#main [name=size]", "0.001")
    await page.click("#main button:has-text('Simulate')")
    await expect(page.locator("#simulation")).to_contain_text("It fits")
