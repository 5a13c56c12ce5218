"""Watching and steering a headless bot: metrics, the HTTP status/control server, alerts,
systemd notification. Adapters around the pure health model (:mod:`botkit.runtime.health`)."""
