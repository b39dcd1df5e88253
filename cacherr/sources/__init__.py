"""Where Cacherr hears about what users watch: webhooks, the session poller, one playback stream."""
