"""`GET` / `PATCH /api/settings`: the whole configuration, secrets write-only.

A secret is shown only as `{"set": true|false}`; writing a string sets it, an empty string
clears it, and sending back `{"set": …}` leaves it as it is. Fields set by environment
variables are flagged and refused; the credentials have their own routes (Security).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from aiohttp import web
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from cacherr import keys
from cacherr.api.body import read_json
from cacherr.api.envelope import ok
from cacherr.config.models import Settings
from cacherr.errors import BadRequest
from cacherr.security.masking import mask_url_credentials
from cacherr.sources.lists import shown_source

# Fields changed through their own routes, never through PATCH.
OWN_ROUTES = {
    "web.api_key": "POST /api/security/api-key/regenerate",
    "web.password_hash": "POST /api/security/password",
    "web.password": "the CACHERR_WEB__PASSWORD environment variable",
    "web.username": "the first-visit set-up",
    "schema_version": "nothing: Cacherr sets it",
}
# Read at start-up only.
RESTART_FIELDS = (
    "web.host",
    "web.port",
    "general.config_force_polling",
    "web.header_timeout_s",
)


def _is_secret(info: FieldInfo) -> bool:
    def walk(tp: Any) -> bool:
        return tp is SecretStr or any(walk(arg) for arg in get_args(tp))

    return walk(info.annotation)


def view(value: Any) -> Any:
    """A JSON-ready view of a settings model with every secret as `{"set": bool}`."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            if _is_secret(info):
                if isinstance(item, list):
                    out[name] = {"set": bool(item), "count": len(item)}
                else:
                    out[name] = {"set": item is not None and bool(item.get_secret_value())}
            else:
                out[name] = view(item)
        return out
    if isinstance(value, list | tuple):
        return [view(v) for v in value]
    if isinstance(value, dict):
        return {k: view(v) for k, v in value.items()}
    return value


def secret_paths(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the secret fields (lists of models included as `path.*`)."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if _is_secret(info):
            yield path
            continue
        for arg in (info.annotation, *get_args(info.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from secret_paths(arg, f"{path}.")


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and path not in SECRET_PATHS:
            yield from _leaves(value, f"{path}.")
        else:
            yield path


SECRET_PATHS = frozenset(secret_paths())


def _clean_secrets(patch: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Drop `{"set": …}` echoes of secrets; an empty string clears a secret."""
    out: dict[str, Any] = {}
    for key, value in patch.items():
        path = f"{prefix}{key}"
        if path in SECRET_PATHS:
            if isinstance(value, dict) and set(value) <= {"set", "count"}:
                continue  # the page sent back what it was shown: unchanged
            out[key] = None if value == "" else value
        elif isinstance(value, dict):
            out[key] = _clean_secrets(value, f"{path}.")
        else:
            out[key] = value
    return out


def _settings_view(settings: Settings) -> dict[str, Any]:
    shown: dict[str, Any] = view(settings)
    for item in shown["lists"]["definitions"]:
        item["source"] = shown_source(item["provider"], item["source"])
    _mask_addresses(shown)
    return shown


def _mask_addresses(section: dict[str, Any]) -> None:
    # A service address may carry a credential (a Plex URL copied from "View XML" ends in
    # `?X-Plex-Token=…`): shown masked, like every secret.
    for key, value in section.items():
        if isinstance(value, dict):
            _mask_addresses(value)
        elif isinstance(value, str):
            section[key] = mask_url_credentials(value)


def _unmask_addresses(patch: dict[str, Any], current: Mapping[str, Any]) -> None:
    """An address sent back as it was shown (masked) keeps the address it has."""
    for key, value in patch.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            _unmask_addresses(value, old)
        elif isinstance(old, str) and value != old and value == mask_url_credentials(old):
            patch[key] = old


def _unmask_sources(patch: dict[str, Any], settings: Settings) -> None:
    """A list sent back with its masked source keeps the source it has."""
    lists = patch.get("lists")
    if not isinstance(lists, dict) or not isinstance(lists.get("definitions"), list):
        return
    current = {d.name: d for d in settings.lists.definitions}
    for item in lists["definitions"]:
        if not isinstance(item, dict):
            continue
        old = current.get(item.get("name", ""))
        if old is not None and item.get("source") == shown_source(old.provider, old.source):
            item["source"] = old.source


def _env_var(path: str) -> str:
    return "CACHERR_" + "__".join(p.upper() for p in path.split("."))


async def get_settings(request: web.Request) -> web.Response:
    """Every setting (secrets only as set/not set), the env-locked fields and the JSON schema."""
    store = request.app[keys.CONFIG]
    return ok(
        {
            "settings": _settings_view(store.current),
            "locked": sorted(store.env_locked),
            "secrets": sorted(SECRET_PATHS),
            "restart_fields": list(RESTART_FIELDS),
            "schema": Settings.model_json_schema(),
        }
    )


async def patch_settings(request: web.Request) -> web.Response:
    """Change settings: a partial document laid over `cacherr.json`, validated, saved atomically.

    Errors name each field. Lists (mappings, URLs, import lists) are replaced as a whole.
    """
    data = await read_json(request)
    if not isinstance(data, dict) or not data:
        raise BadRequest("send a JSON object with the settings to change")
    patch = _clean_secrets(data)
    leaves = list(_leaves(patch))
    refused = [
        {"field": p, "message": f"not changed here; use {route}"}
        for p in leaves
        for own, route in OWN_ROUTES.items()
        if p == own or p.startswith(own + ".")
    ]
    store = request.app[keys.CONFIG]
    locked = store.env_locked
    refused += [
        {"field": p, "message": f"set by the environment variable {_env_var(lock)}"}
        for p in leaves
        for lock in locked
        if p == lock or p.startswith(lock + ".") or lock.startswith(p + ".")
    ]
    if refused:
        text = "; ".join(f"{r['field']}: {r['message']}" for r in refused)
        raise BadRequest(f"these settings cannot be changed here: {text}", details=refused)
    before = store.current
    _unmask_sources(patch, before)
    _unmask_addresses(patch, view(before))
    settings = await asyncio.to_thread(store.save, patch)
    restart = [f for f in RESTART_FIELDS if _get(before, f) != _get(settings, f)]
    message = "Settings saved"
    if restart:
        message += f"; restart Cacherr to apply {', '.join(restart)}"
    return ok(
        {
            "settings": _settings_view(settings),
            "restart_required": restart,
            "locked": sorted(locked),
        },
        message=message,
    )


def _get(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value
