"""Bad answers mark the list failed (or truncated) with the reason; what was there stays."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cacherr.claims import ClaimStore
from cacherr.config.models import ImportList
from cacherr.sources.lists import Fetcher, ListFetchError, ListService, fetch_entries, holder
from cacherr.sources.lists.model import MAX_ENTRIES
from cacherr.sources.lists.service import FAILED_RETRY_S

from . import samples
from .conftest import Box, Providers, ServiceFactory, list_claims
from .test_providers import config

TRAKT = {"name": "picks", "provider": "trakt", "source": "sean/picks", "max_items": 10}
TRAKT_PATH = "/users/sean/lists/picks/items"


async def fail_reason(fetcher: Fetcher, providers: Providers, definition: dict[str, Any],
                      **values: Any) -> str:  # fmt: skip
    with pytest.raises(ListFetchError) as caught:
        await fetch_entries(fetcher, config(providers, **values),
                            ImportList.model_validate(definition))  # fmt: skip
    return caught.value.message


@pytest.mark.parametrize(("status", "words"), [
    (401, "refused access (HTTP 401)"), (403, "refused access (HTTP 403)"),
    (404, "not found (HTTP 404)"), (500, "HTTP 500"),
])  # fmt: skip
async def test_http_errors_give_the_reason(
    fetcher: Fetcher, providers: Providers, status: int, words: str
) -> None:
    providers.text(TRAKT_PATH, '{"error": "x"}', status=status, content_type="application/json")
    assert words in await fail_reason(fetcher, providers, TRAKT)


async def test_rate_limit_says_when_to_retry(fetcher: Fetcher, providers: Providers) -> None:
    providers.text(TRAKT_PATH, "", status=429, headers={"Retry-After": "30"})
    assert await fail_reason(fetcher, providers, TRAKT) == (
        "Trakt (sean/picks) is rate limited (HTTP 429); retry after 30 s"
    )


async def test_html_error_page_timeout_and_malformed_bodies(
    fetcher: Fetcher, providers: Providers
) -> None:
    providers.text(TRAKT_PATH, "<!DOCTYPE html><html><body>Cloudflare</body></html>",
                   content_type="text/html")  # fmt: skip
    assert "HTML page instead of JSON" in await fail_reason(fetcher, providers, TRAKT)
    providers.text(TRAKT_PATH, '[{"type": "movie", ', content_type="application/json")
    assert "malformed JSON" in await fail_reason(fetcher, providers, TRAKT)
    providers.json(TRAKT_PATH, {"not": "a list"})
    assert "not a list of items" in await fail_reason(fetcher, providers, TRAKT)
    providers.slow(TRAKT_PATH, 3.0)
    assert "did not answer within 1 s" in await fail_reason(fetcher, providers, TRAKT)

    imdb = {"name": "i", "provider": "imdb", "source": "ls0001"}
    providers.text("/list/ls0001/export", "<html><body>Sign in</body></html>",
                   content_type="text/html")  # fmt: skip
    assert "HTML page (the list may be private)" in await fail_reason(fetcher, providers, imdb)
    providers.text("/list/ls0001/export", "a,b\n1,2\n", content_type="text/csv")
    assert "not an IMDb export" in await fail_reason(fetcher, providers, imdb)

    feed = {"name": "f", "provider": "rss", "source": providers.url + "/f.rss"}
    providers.text("/f.rss", "<rss><channel><item><title>x</item></rss>")
    assert "malformed XML" in await fail_reason(fetcher, providers, feed)
    providers.text("/f.rss", "hello,world\nnot,ids\n")
    assert "neither a list of ids" in await fail_reason(fetcher, providers, feed)

    tmdb = {"name": "t", "provider": "tmdb", "source": "list/1"}
    providers.json("/3/list/1", {"status_code": 34})
    assert "answered no items or results" in await fail_reason(fetcher, providers, tmdb)


async def test_missing_credentials(fetcher: Fetcher, providers: Providers) -> None:
    assert "trakt_client_id is not set" in await fail_reason(
        fetcher, providers, TRAKT, trakt_client_id=None)  # fmt: skip
    tmdb = {"name": "t", "provider": "tmdb", "source": "popular/movies"}
    assert "tmdb_api_key is not set" in await fail_reason(
        fetcher, providers, tmdb, tmdb_api_key=None)  # fmt: skip


async def test_huge_lists_are_truncated_or_refused(providers: Providers) -> None:
    row = samples.TRAKT_LIST_PAGE_1[0]
    pages = [[row] * 100 for _ in range(1000)]  # 100 000 items, 100 a page
    providers.json(TRAKT_PATH, None, pages=pages, trakt_pages=True)
    fetcher = Fetcher(timeout_s=2, max_body_bytes=256 * 1024)
    try:
        result = await fetch_entries(fetcher, config(providers), ImportList.model_validate(TRAKT))
        assert result.truncated and len(result.entries) == 1000
        assert len([s for s in providers.seen if s.path == TRAKT_PATH]) == 10  # stopped early

        lines = "".join(f"{i},tt{1000000 + i},,,,T{i},,movie,,,2000,,,,\n" for i in range(100_000))
        providers.text("/list/ls0002/export", samples.IMDB_EXPORT.split("\r\n")[0] + "\n" + lines)
        imdb = ImportList.model_validate({"name": "i", "provider": "imdb", "source": "ls0002",
                                          "max_items": 5000})  # fmt: skip
        big = await fetch_entries(fetcher, config(providers), imdb)
        assert big.truncated  # cut by the size cap at a row boundary
        assert 1000 < len(big.entries) < 10_000
        assert big.entries[-1].title.startswith("T")

        providers.json("/big.json", [{"imdb_id": f"tt{1000000 + i}"} for i in range(100_000)])
        url = ImportList.model_validate({"name": "u", "provider": "url",
                                         "source": providers.url + "/big.json"})  # fmt: skip
        with pytest.raises(ListFetchError, match="larger than"):
            await fetch_entries(fetcher, config(providers), url)
    finally:
        await fetcher.close()
    small = json.dumps([f"tt{1000000 + i}" for i in range(20_000)])
    providers.text("/many.json", small, content_type="application/json")
    fetcher = Fetcher()
    try:
        many = ImportList.model_validate({"name": "m", "provider": "url", "max_items": 10_000,
                                          "source": providers.url + "/many.json"})  # fmt: skip
        result = await fetch_entries(fetcher, config(providers), many)
        assert result.truncated and len(result.entries) == MAX_ENTRIES
    finally:
        await fetcher.close()


async def test_a_failed_refresh_keeps_items_and_claims(
    service: ListService, box: Box, providers: Providers, claims: ClaimStore
) -> None:
    box.lists(TRAKT)
    providers.json(TRAKT_PATH, samples.TRAKT_LIST_PAGE_1)
    status = await service.refresh("picks")
    assert status.state == "ok" and status.counts["matched"] == 2
    before_items = await service.repo.items("picks")
    before_claims = await claims.for_user(holder("picks"), "list")
    assert before_claims

    for answer in (
        lambda: providers.text(TRAKT_PATH, "<html>oops</html>", content_type="text/html"),
        lambda: providers.text(TRAKT_PATH, "", status=503),
        lambda: providers.text(TRAKT_PATH, "[{", content_type="application/json"),
    ):
        answer()
        failed = await service.refresh("picks")
        assert failed.state == "failed" and failed.error
        assert failed.fetched_at == status.fetched_at  # the last good fetch
        assert await service.repo.items("picks") == before_items
        assert await claims.for_user(holder("picks"), "list") == before_claims
        assert [c.key for c in await list_claims(service)] == [c.key for c in before_claims]


async def test_a_failed_list_is_retried_after_15_minutes_even_across_a_restart(
    make_service: ServiceFactory, box: Box, providers: Providers
) -> None:
    now = [1_000_000.0]
    box.lists(TRAKT)  # refreshed every 6 h by default
    providers.json(TRAKT_PATH, samples.TRAKT_LIST_PAGE_1)
    service = await make_service(clock=lambda: now[0])
    assert await service.due() == ["picks"]  # never tried
    assert (await service.refresh("picks")).state == "ok"
    now[0] += 3600
    assert await service.due() == []

    providers.text(TRAKT_PATH, "", status=503)
    assert (await service.refresh("picks")).attempted_at == now[0]
    tried = now[0]
    now[0] += 60
    assert await service.due() == []
    restarted = await make_service(clock=lambda: now[0])
    assert await restarted.due() == []  # the try is remembered, not repeated at start-up
    now[0] = tried + FAILED_RETRY_S
    assert await restarted.due() == ["picks"]  # not 6 h later: the provider may be back

    providers.json(TRAKT_PATH, samples.TRAKT_LIST_PAGE_1)
    assert (await restarted.refresh("picks")).state == "ok"
    now[0] += FAILED_RETRY_S
    assert await restarted.due() == []  # a good list keeps its own interval
