"""Fixtures shared by every test folder: a config folder and the real app on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr.app import create_app
from cacherr.config import ConfigStore

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


@pytest.fixture
def store(config_dir: Path) -> ConfigStore:
    return ConfigStore.open(config_dir)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: ConfigStore) -> TestClient[Any, Any]:
    """The real app, started (cleanup contexts run), on a fresh config folder."""
    return await aiohttp_client(create_app(store))
