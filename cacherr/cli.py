"""The command line: `cacherr run | check | --version`."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from cacherr import __version__
from cacherr.config.store import CONFIG_NAME, ConfigStore
from cacherr.errors import CacherrError, ConfigError

log = logging.getLogger("cacherr")

# At stop, requests still open get this long to finish, and as long again once cancelled.
# API calls are short and the pages' sockets are closed first (a page's socket is the request
# that stays open); Docker kills the container 10 s after SIGTERM, and the queue's copies
# need that time to stop where their journal says.
HTTP_STOP_GRACE_S = 0.5


def _config_dir_default() -> str:
    return os.environ.get("CACHERR_CONFIG_DIR", "/config")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the commands)."""
    parser = argparse.ArgumentParser(
        prog="cacherr",
        description="Keeps the media Plex users are about to watch on the fast pool.",
    )
    parser.add_argument("--version", action="version", version=f"cacherr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("run", "run the daemon"),
        ("check", "validate the configuration and the set-up, change nothing"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument(
            "--config-dir",
            type=Path,
            default=None,
            help="folder of cacherr.json and the state database "
            "(default: $CACHERR_CONFIG_DIR or /config)",
        )
        if name == "run":
            sub.add_argument(
                "--host",
                default=None,
                help="address the page listens on, for this run (default: web.host, "
                "$CACHERR_WEB__HOST or 0.0.0.0)",
            )
            sub.add_argument(
                "--port",
                type=int,
                default=None,
                help="port of the page, for this run (default: web.port, "
                "$CACHERR_WEB__PORT or 5757)",
            )
    importer = commands.add_parser(
        "import-plexcache",
        help="carry a plexcache_settings.json over into cacherr.json",
        description="Merge the settings of a PlexCache install into cacherr.json (validated, "
        "saved atomically) and list what has no Cacherr equivalent.",
    )
    importer.add_argument("file", type=Path, help="the plexcache_settings.json to read")
    importer.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="folder of cacherr.json (default: $CACHERR_CONFIG_DIR or /config)",
    )
    importer.add_argument(
        "--dry-run", action="store_true", help="print what would be set, write nothing"
    )
    demo = commands.add_parser(
        "demo",
        help="run on a simulated Plex with simulated viewers (no Plex, no network needed)",
        description="Run the daemon on a simulated Plex with simulated viewers, in a sandbox.",
    )
    demo.add_argument(
        "--dir", type=Path, default=None, help="sandbox folder (default: a new temp folder)"
    )
    demo.add_argument("--port", type=int, default=5757, help="port of the page (default 5757)")
    demo.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the page listens on (default 127.0.0.1, this machine only; 0.0.0.0 "
        "opens it to your network, behind a login)",
    )
    demo.add_argument(
        "--speed", type=float, default=1.0, help="how fast the simulated viewers act (default 1)"
    )
    return parser


# Libraries whose DEBUG lines carry secrets (SQL parameters with tokens, request URLs
# with tokens or feed keys): never below INFO, whatever the configured level.
_QUIET_LOGGERS = ("aiosqlite", "urllib3", "requests", "engineio", "socketio")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _run(config_dir: Path, host: str | None = None, port: int | None = None) -> int:
    from cacherr.app import create_app  # the daemon's imports are not needed by `check`
    from cacherr.security import setup_code
    from cacherr.welcome import first_run_message

    try:
        store = ConfigStore.open(config_dir)
    except ConfigError as exc:
        print(f"Cacherr cannot start: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the first-run file or a migration cannot be written
        print(f"Cacherr cannot start: {_os_problem(exc)}", file=sys.stderr)
        return 1
    settings = store.current
    logging.getLogger().setLevel(settings.general.log_level)
    app = create_app(store)
    host = settings.web.host if host is None else host
    port = settings.web.port if port is None else port
    log.info("Cacherr %s starting on %s:%d (config %s)", __version__, host, port, store.path)

    def listening(_aiohttp_line: str) -> None:
        # Printed once the page listens; start-up has made the set-up code by then (read
        # once, a few bytes, before the first request is served).
        code = (
            setup_code.read(store.config_dir)
            if setup_code.setup_required(store.current.web)
            else None
        )
        line = setup_code.message(code, store.config_dir) if code else None
        print(first_run_message(store.current, host, port, setup_code_line=line), flush=True)

    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=listening,
            access_log=None,
            shutdown_timeout=HTTP_STOP_GRACE_S,
            # Also the deadline of a request's headers (see cacherr.api.deadline).
            keepalive_timeout=settings.web.header_timeout_s,
        )
    except CacherrError as exc:
        print(f"Cacherr cannot start: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cacherr cannot start: {_os_problem(exc)}", file=sys.stderr)
        return 1
    log.info("Cacherr stopped")
    return 0


def _os_problem(exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
        return (f"{exc.filename or 'the config folder'}: {exc.strerror}; the config folder "
                "must be writable by Cacherr's user (PUID/PGID) and have free space")  # fmt: skip
    return str(exc)


def _check(config_dir: Path) -> int:
    import asyncio

    from cacherr.checks import run_checks

    path = config_dir / CONFIG_NAME
    try:
        store = ConfigStore.open(config_dir, persist=False)
    except ConfigError as exc:
        print(f"✗ configuration {path}")
        for problem in exc.problems:
            print(f"    {problem}")
        return 1
    where = path if path.exists() else f"defaults ({path} does not exist yet)"
    print(f"✓ configuration {where}")
    results = asyncio.run(run_checks(store.current, config_dir))
    for result in results:
        print(result.line())
    return 0 if all(r.ok for r in results) else 1


def _import_plexcache(source: Path, config_dir: Path, *, dry_run: bool) -> int:
    import json

    from cacherr.plexcache_import import from_plexcache

    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"✗ cannot read {source}: {exc}", file=sys.stderr)
        return 1
    if not isinstance(data, dict):
        print(f"✗ {source} does not hold PlexCache settings (a JSON object)", file=sys.stderr)
        return 1
    imported = from_plexcache(data)
    for section, values in imported.patch.items():
        for key, value in values.items():
            shown = "(set)" if key in ("token", "friends_watchlist_rss") else json.dumps(value)
            print(f"✓ {section}.{key} = {shown}")
    for key, why in imported.notes:
        print(f"• {key}: {why}")
    if dry_run:
        print("Nothing written (--dry-run).")
        return 0
    try:
        store = ConfigStore.open(config_dir)
        store.save(imported.patch)
    except ConfigError as exc:
        print(f"✗ not saved, the result would be invalid: {exc}", file=sys.stderr)
        return 1
    print(
        f"Saved to {store.path}. Existing .plexcached files are adopted by the audit "
        "(Maintenance on the page)."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cacherr` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging("INFO")
    if args.command == "demo":
        from cacherr.demo.run import run_demo

        return run_demo(args.dir, port=args.port, speed=args.speed, host=args.host)
    config_dir: Path = args.config_dir or Path(_config_dir_default())
    if args.command == "import-plexcache":
        return _import_plexcache(args.file, config_dir, dry_run=args.dry_run)
    if args.command == "run":
        return _run(config_dir, args.host, args.port)
    return _check(config_dir)
