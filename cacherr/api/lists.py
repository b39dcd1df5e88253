"""`/api/lists`: import lists — their definitions (saved to `cacherr.json` under
`lists.definitions`), their state and counts, their entries with match state, refresh now.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.config.models import ImportList
from cacherr.errors import BadRequest, Conflict, NotFound
from cacherr.sources.lists import ListFetchError, ListStatus, check_source, shown_source

DEFINITIONS: Final = "lists.definitions"
_MATCH_STATES: Final = ("matched", "not_in_library", "ambiguous", "pending")


def _shown_source(definition: ImportList) -> str:
    # A custom URL may carry a credential (user part, query, path token): never sent back.
    return shown_source(definition.provider, definition.source)


def _view(definition: ImportList, status: ListStatus) -> dict[str, Any]:
    data = definition.model_dump(mode="json")
    data["source"] = _shown_source(definition)
    return {**data, "status": status.as_dict()}


def _find(request: web.Request, name: str) -> tuple[int, ImportList]:
    for index, each in enumerate(request.app[keys.CONFIG].current.lists.definitions):
        if each.name == name:
            return index, each
    raise NotFound(f"there is no import list named {name!r}")


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"invalid request: {field}: {message}",
                      details=[{"field": field, "message": message}])  # fmt: skip


async def _definition(request: web.Request, current: ImportList | None = None) -> ImportList:
    definition = await parse_body(request, ImportList)
    if current is not None and definition.source == _shown_source(current):
        definition = definition.model_copy(update={"source": current.source})
    try:
        check_source(definition.provider, definition.source)
    except ValueError as exc:
        raise _field_error("source", str(exc)) from None
    missing = _CREDENTIALS.get(definition.provider)
    if missing is not None:
        secret = getattr(request.app[keys.CONFIG].current.lists, missing[0])
        if secret is None or not secret.get_secret_value():
            raise _field_error("provider", missing[1])
    return definition


# Providers that answer only with an account's key: (setting, what to do without it).
_CREDENTIALS: Final = {
    "trakt": (
        "trakt_client_id",
        "Trakt lists need a Trakt API client id: create an app at "
        "https://trakt.tv/oauth/applications, then paste its Client ID under Settings → "
        "List providers (Trakt client id) and add the list again.",
    ),
    "tmdb": (
        "tmdb_api_key",
        "TMDb lists need a TMDb API key or read access token: get one at "
        "https://www.themoviedb.org/settings/api, then paste it under Settings → "
        "List providers (Tmdb api key) and add the list again.",
    ),
}


async def _save(request: web.Request, definitions: list[ImportList]) -> None:
    store = request.app[keys.CONFIG]
    if any(p == DEFINITIONS or p.startswith(DEFINITIONS + ".") for p in store.env_locked):
        raise Conflict("lists.definitions is set by an environment variable; change it there")
    patch = {"lists": {"definitions": [d.model_dump(mode="json") for d in definitions]}}
    await asyncio.to_thread(store.save, patch)


async def list_lists(request: web.Request) -> web.Response:
    """Every import list: its definition, state (ok, failed, truncated) and match counts."""
    service = request.app[keys.LISTS]
    statuses = await service.statuses()
    return ok([_view(d, statuses[d.name]) for d in service.definitions()])


@accepts(ImportList)
async def create_list(request: web.Request) -> web.Response:
    """Add an import list (saved to cacherr.json); it is fetched right away."""
    definition = await _definition(request)
    current = list(request.app[keys.CONFIG].current.lists.definitions)
    if any(d.name == definition.name for d in current):
        raise Conflict(
            f"an import list named {definition.name!r} already exists",
            details=[{"field": "name", "message": "already used by another list"}],
        )
    await _save(request, [*current, definition])
    request.app[keys.LIST_SCHEDULER].request(definition.name)
    status = await request.app[keys.LISTS].repo.status(definition.name)
    return ok(_view(definition, status), message="list created", status=201)


async def get_list(request: web.Request) -> web.Response:
    """One import list with its state and counts."""
    _, definition = _find(request, request.match_info["name"])
    status = await request.app[keys.LISTS].repo.status(definition.name)
    return ok(_view(definition, status))


@accepts(ImportList)
async def update_list(request: web.Request) -> web.Response:
    """Replace an import list's definition (a new name renames it); it is fetched again."""
    index, current = _find(request, request.match_info["name"])
    definition = await _definition(request, current)
    definitions = list(request.app[keys.CONFIG].current.lists.definitions)
    renamed = definition.name != current.name
    if renamed and any(d.name == definition.name for d in definitions):
        raise Conflict(
            f"an import list named {definition.name!r} already exists",
            details=[{"field": "name", "message": "already used by another list"}],
        )
    definitions[index] = definition
    await _save(request, definitions)
    service = request.app[keys.LISTS]
    if renamed:
        await service.forget(current.name)
    request.app[keys.LIST_SCHEDULER].request(definition.name)
    status = await service.repo.status(definition.name)
    return ok(_view(definition, status), message="list saved")


async def delete_list(request: web.Request) -> web.Response:
    """Remove an import list; its claims are released (files leave after retention)."""
    _, definition = _find(request, request.match_info["name"])
    definitions = request.app[keys.CONFIG].current.lists.definitions
    await _save(request, [d for d in definitions if d.name != definition.name])
    await request.app[keys.LISTS].forget(definition.name)
    return ok({"name": definition.name}, message="list deleted")


async def refresh_list(request: web.Request) -> web.Response:
    """Fetch and match an import list now; a failure answers 502 with the reason.

    The list's previous entries and claims stay in force when the fetch fails.
    """
    _, definition = _find(request, request.match_info["name"])
    status = await request.app[keys.LISTS].refresh(definition.name)
    if status.state == "failed":
        raise ListFetchError(status.error or "the list could not be read",
                             details=status.as_dict())  # fmt: skip
    return ok(_view(definition, status), message="list refreshed")


async def list_items(request: web.Request) -> web.Response:
    """An import list's entries in list order with their match state.

    `?state=matched|not_in_library|ambiguous|pending` keeps only one state.
    """
    _, definition = _find(request, request.match_info["name"])
    wanted = request.query.get("state")
    if wanted is not None and wanted not in _MATCH_STATES:
        raise _field_error("state", f"must be one of {', '.join(_MATCH_STATES)}")
    items = await request.app[keys.LISTS].repo.items(definition.name)
    shown = [i.as_dict() for i in items if wanted is None or i.match_state == wanted]
    return ok({"name": definition.name, "items": shown})


def setup_list_routes(app: web.Application) -> None:
    """Register the `/api/lists` routes."""
    app.router.add_get("/api/lists", list_lists, name="lists")
    app.router.add_post("/api/lists", create_list, name="lists_create")
    app.router.add_get("/api/lists/{name}", get_list, name="list")
    app.router.add_put("/api/lists/{name}", update_list, name="list_update")
    app.router.add_delete("/api/lists/{name}", delete_list, name="list_delete")
    app.router.add_post("/api/lists/{name}/refresh", refresh_list, name="list_refresh")
    app.router.add_get("/api/lists/{name}/items", list_items, name="list_items")
