"""Cacherr: keeps the media Plex users are about to watch on the fast pool."""

__version__ = "0.1.0"
