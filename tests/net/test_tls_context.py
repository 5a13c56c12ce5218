"""TLS contexts: always verifying; the system-CA one is built once and shared (~17–37 ms
and ~0.75 MB each), and only where the library has none of its own (aiohttp connections
get None: its verifying default); a CA-file one is read afresh, and a missing CA file is
a config error naming it, for REST and WebSocket alike."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.net.transport import ssl_context
from botkit.net.ws import tls_context
from botkit.sim.tls import make_self_signed


def test_the_system_context_is_shared_and_verifies() -> None:
    ctx = ssl_context()
    assert ssl_context(None) is ctx and tls_context() is None
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


def test_a_ca_file_context_is_fresh_and_a_missing_file_is_named(tmp_path: Path) -> None:
    cert = make_self_signed(tmp_path)[0]
    first, second = ssl_context(cert), tls_context(cert)
    assert first is not second and first is not ssl_context()
    assert second.verify_mode is ssl.CERT_REQUIRED and second.check_hostname
    for make in (ssl_context, tls_context):
        with pytest.raises(ConfigError, match="nope.pem does not exist"):
            make(tmp_path / "nope.pem")
