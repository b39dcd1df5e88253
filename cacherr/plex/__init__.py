"""The Plex side: gateway, users, resolution, on-deck, watchlists and intake."""
