"""`cacherr demo`: the real daemon on a simulated Plex with simulated viewers, in a sandbox."""
