"""Loading, layering and saving `cacherr.json`.

Layers, lowest first: the models' defaults, the file, `CACHERR_<SECTION>__<KEY>`
environment variables. Changes from the page are written into the file's layer and saved
atomically; environment values are never written to the file.

Saves and reloads run one at a time (read, merge, check, write, swap under one lock), so
concurrent saves from the page lose no update. Checks added by the app (e.g. start-up's
mapping refusals) run on every save and reload: what start-up would refuse is never saved
nor put in force. Listeners run on the event loop once the app has named it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import EnvSettingsSource

from cacherr.atomic import atomic_write_text
from cacherr.config.models import SCHEMA_VERSION, Settings
from cacherr.errors import ConfigError, InsufficientSpace, Problem, Unavailable

log = logging.getLogger(__name__)

CONFIG_NAME = "cacherr.json"

# A check of settings about to be saved or reloaded: (in force, new) -> what is wrong.
SettingsCheck = Callable[[Settings, Settings], list[Problem]]
Listener = Callable[[Settings, Settings], None]


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `top` laid over `base`, nested dicts merged key by key."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def reveal(value: Any) -> Any:
    """A JSON-ready copy of a dumped model with secrets in clear (for the file only)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _flatten(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            paths |= _flatten(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def read_environment() -> dict[str, Any]:
    """The `CACHERR_<SECTION>__<KEY>` layer as a nested dict."""
    source = EnvSettingsSource(
        Settings,
        env_prefix="CACHERR_",
        env_nested_delimiter="__",
        case_sensitive=False,
        # Unraid passes a template's blank fields as empty variables: they mean "unset".
        env_ignore_empty=True,
    )
    return source()


def parse_document(text: str, source: str) -> dict[str, Any]:
    """Parse the file's JSON, with line and column on a syntax error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem("", f"not valid JSON: {exc.msg}", exc.lineno, exc.colno)], source=source
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must hold a JSON object")], source=source)
    return data


def check_schema_version(data: Mapping[str, Any], current: int = SCHEMA_VERSION) -> None:
    """Refuse a document this Cacherr cannot read; none given means the current version.

    Schema 1 is the only one so far: a second one brings its migration (and a test of it).
    """
    version = data.get("schema_version", current)
    if not isinstance(version, int) or version < 1:
        raise ConfigError([Problem("schema_version", f"{version!r} is not a schema version")])
    if version > current:
        raise ConfigError(
            [
                Problem(
                    "schema_version",
                    f"version {version} was written by a newer Cacherr (this one reads up to "
                    f"{current}); upgrade Cacherr or restore the backup",
                )
            ]
        )


def validate(file_data: Mapping[str, Any], env_data: Mapping[str, Any], source: str) -> Settings:
    """Validate the layered settings, listing every problem with its field path."""
    merged = deep_merge(file_data, env_data)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        env_paths = _flatten(env_data)
        problems = []
        for err in exc.errors(include_url=False):
            path = ".".join(str(part) for part in err["loc"])
            message = err["msg"]
            if path in env_paths:
                var = "CACHERR_" + "__".join(str(p).upper() for p in err["loc"])
                message += f" (from the environment variable {var})"
            elif err["type"] != "missing" and _may_echo(err["loc"], err.get("input")):
                message += f" (got {err['input']!r})"
            problems.append(Problem(path, message))
        raise ConfigError(problems, source=source) from exc


def _may_echo(loc: tuple[int | str, ...], value: Any) -> bool:
    """Whether an invalid value may be repeated in its error: only a scalar of a declared,
    non-secret field. A misspelt key (plex.Token) or a mistyped secret (a numeric web.api_key)
    may hold a secret, and errors reach health, the log, the page and notifications."""
    if isinstance(value, dict | list) or not loc:
        return False
    model: type[BaseModel] | None = Settings
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = next(
            (a for a in (annotation, *get_args(annotation)) if _is_model(a)),
            None,
        )
    return not _holds_secret(annotation)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _holds_secret(tp: Any) -> bool:
    return tp is SecretStr or any(_holds_secret(arg) for arg in get_args(tp))


def default_document() -> dict[str, Any]:
    """A complete first-run file: every default, with freshly generated secrets."""
    data: dict[str, Any] = reveal(Settings().model_dump(mode="python"))
    data["web"]["api_key"] = secrets.token_hex(16)
    data["webhook"]["secret"] = secrets.token_urlsafe(24)
    return data


class ConfigStore:
    """Owns `DIR/cacherr.json`: the running settings, reloads and saves from the page."""

    def __init__(self, config_dir: Path, file_data: dict[str, Any], settings: Settings) -> None:
        self.config_dir = config_dir
        self.path = config_dir / CONFIG_NAME
        self._file_data = file_data
        self._settings = settings
        self._listeners: list[Listener] = []
        self._checks: list[SettingsCheck] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Why the last edit of the file was not applied (None once a reload or save works).
        self.problem: str | None = None

    @property
    def current(self) -> Settings:
        """The settings in force."""
        return self._settings

    @property
    def env_locked(self) -> set[str]:
        """Dotted field paths set by environment variables (the page cannot change them)."""
        return _flatten(read_environment())

    def on_change(self, listener: Listener) -> None:
        """Call `listener(old, new)` after every successful swap."""
        self._listeners.append(listener)

    def add_check(self, check: SettingsCheck) -> None:
        """Refuse saves and reloads for which `check(in_force, new)` finds problems."""
        if check not in self._checks:  # the same store may serve a restarted app
            self._checks.append(check)

    def listen_on(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Run listeners on `loop` (saves and reloads run on worker threads); None: inline."""
        self._loop = loop

    @classmethod
    def open(
        cls,
        config_dir: Path,
        *,
        persist: bool = True,
    ) -> ConfigStore:
        """Load the folder's settings; with `persist`, create a first-run file.

        Without `persist` (used by `cacherr check`) nothing is written.
        """
        path = config_dir / CONFIG_NAME
        if not path.exists():
            if not persist:
                data = Settings().model_dump(mode="python")
                return cls(config_dir, data, validate(data, read_environment(), str(path)))
            config_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, _dumps(default_document()), new_file_mode=0o600)
            log.info("Wrote a default configuration to %s", path)
        data = cls._read(path)
        check_schema_version(data)
        settings = validate(data, read_environment(), str(path))
        store = cls(config_dir, data, settings)
        if persist:
            store._fill_generated_secrets()
        return store

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                [Problem("", f"cannot read the file: {exc}")], source=str(path)
            ) from exc
        return parse_document(text, str(path))

    def _fill_generated_secrets(self) -> None:
        patch: dict[str, Any] = {}
        if self._settings.web.api_key is None:
            patch["web"] = {"api_key": secrets.token_hex(16)}
        if self._settings.webhook.secret is None:
            patch["webhook"] = {"secret": secrets.token_urlsafe(24)}
        if patch:
            self.save(patch)

    def reload(self) -> Settings:
        """Re-read the file; on success swap and notify, on failure keep the old settings.

        Blocking (reads the file, runs the checks): call it through `asyncio.to_thread`.
        """
        with self._lock:
            try:
                data = self._read(self.path)
                check_schema_version(data)
                settings = validate(data, read_environment(), str(self.path))
                self._check(settings)
            except ConfigError as exc:
                self.problem = "; ".join(str(p) for p in exc.problems) or str(exc)
                raise
            self._swap(data, settings)
        return settings

    def save(self, patch: Mapping[str, Any]) -> Settings:
        """Lay `patch` over the file's layer, validate, check, write atomically, swap.

        Blocking (small file, fsync): call it through `asyncio.to_thread` from the loop.
        """
        with self._lock:
            return self._save(patch)

    def _check(self, settings: Settings) -> None:
        problems = [p for check in self._checks for p in check(self._settings, settings)]
        if problems:
            raise ConfigError(problems, source=str(self.path))

    def _save(self, patch: Mapping[str, Any]) -> Settings:
        data = deep_merge(self._file_data, patch)
        settings = validate(data, read_environment(), str(self.path))
        self._check(settings)
        try:
            atomic_write_text(self.path, _dumps(data), new_file_mode=0o600)
        except OSError as exc:  # the file as it was stays; so do the settings in force
            reason = f"cannot save {self.path}: {exc.strerror or exc}; nothing was changed"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientSpace(reason) from exc
            raise Unavailable(reason) from exc
        self._swap(data, settings)
        return settings

    def _swap(self, data: dict[str, Any], settings: Settings) -> None:
        self.problem = None
        old, self._file_data, self._settings = self._settings, data, settings
        loop = self._loop
        if loop is None or loop.is_closed() or _running_loop() is loop:
            self._notify(old, settings)
        else:  # on a worker thread: the loop runs them, in the order of the swaps
            loop.call_soon_threadsafe(self._notify, old, settings)

    def _notify(self, old: Settings, new: Settings) -> None:
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:
                log.exception("A listener of settings changes failed")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
