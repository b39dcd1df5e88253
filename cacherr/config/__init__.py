"""Configuration: models, the layered store and the file watcher."""

from cacherr.config.models import SCHEMA_VERSION, Settings, parse_size
from cacherr.config.store import ConfigStore

__all__ = ["SCHEMA_VERSION", "ConfigStore", "Settings", "parse_size"]
