"""Settings: one object, nested sections, read from the environment and ``.env``.

Every variable is ``BOTKIT_<SECTION>__<FIELD>`` (e.g. ``BOTKIT_COINBASE__API_KEY``);
``.env.example`` documents each one. The conventional ``COINBASE_API_KEY`` /
``COINBASE_API_SECRET`` are honoured too, as a fallback, because that is what
Coinbase's own guides and the official SDK use. URLs are settings, so the same
code talks to Coinbase, its sandbox, or the local simulator.

Secrets are ``SecretStr``: they print as ``**********`` in reprs, logs and
validation errors, and are only unwrapped by the signer factories in
:mod:`botkit.auth.factory`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from botkit.errors import ConfigError

__all__ = [
    "BotSettings",
    "CoinbaseSettings",
    "ExchangeSettings",
    "PrimeSettings",
    "SimSettings",
    "load_settings",
]

Mode = Literal["sim", "paper", "live"]


def _blank_is_unset(value: object) -> object:
    """``VAR=`` (as ``.env.example`` ships every variable) means "not set", not ``Path("")``.

    Without this, an empty ``BOTKIT_COINBASE__KEY_FILE=`` became ``Path(".")`` and won
    over the key and secret filled in below it ("CDP key file . cannot be read").
    """
    if isinstance(value, str) and not value.strip():
        return None
    return value


OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_unset)]
"""The type of every optional path setting: an empty variable leaves it unset."""


class CoinbaseSettings(BaseModel):
    """Coinbase Advanced Trade: CDP key and endpoints."""

    api_key: str | None = Field(None, description="CDP key name or id (JWT kid/sub)")
    api_secret: SecretStr | None = Field(None, description="CDP private key (PEM or base64)")
    key_file: OptionalPath = Field(None, description="CDP key JSON file (name/id + privateKey)")
    rest_url: str = "https://api.coinbase.com/api/v3/brokerage"
    ws_market_url: str = "wss://advanced-trade-ws.coinbase.com"
    ws_user_url: str = "wss://advanced-trade-ws-user.coinbase.com"
    jwt_issuer: str = Field(
        "cdp", description="JWT iss claim (cdp, or coinbase-cloud for old keys)"
    )
    jwt_lifetime: int = Field(120, ge=10, le=300, description="seconds from nbf to exp")
    presign: int = Field(
        4, ge=0, le=64, description="pre-signed create-order JWTs kept ready (0: sign inline)"
    )
    presign_max_age: float = Field(
        5.0, gt=0, le=60, description="seconds a pre-signed token may wait before it is discarded"
    )


class ExchangeSettings(BaseModel):
    """Coinbase Exchange: HMAC key (CB-ACCESS-* headers) and endpoints (``[bot] venue =
    "exchange"``). A key is scoped to one profile, so no ids are needed."""

    api_key: str | None = Field(None, description="the Exchange API key (CB-ACCESS-KEY)")
    api_secret: SecretStr | None = Field(None, description="the base64 secret shown once")
    passphrase: SecretStr = Field(SecretStr(""), description="the key's passphrase ('' if none)")
    rest_url: str = "https://api.exchange.coinbase.com"
    ws_url: str = "wss://ws-feed.exchange.coinbase.com"
    decimal_timestamp: bool = False


class PrimeSettings(BaseModel):
    """Coinbase Prime: HMAC key (X-CB-ACCESS-* headers), the ids a Prime key is scoped to,
    and endpoints (``[bot] venue = "prime"``)."""

    access_key: str | None = Field(None, description="the Prime API key id")
    signing_key: SecretStr | None = Field(None, description="the signing secret (raw text)")
    passphrase: SecretStr = SecretStr("")
    portfolio_id: str = Field("", description="the portfolio orders are placed in")
    entity_id: str = Field("", description="the entity owning the portfolio (optional)")
    service_account_id: str = Field("", description="the key's service account id (WebSocket)")
    rest_url: str = "https://api.prime.coinbase.com/v1"
    ws_url: str = "wss://ws-feed.prime.coinbase.com"


class SimSettings(BaseModel):
    """The embedded simulator used by ``sim`` mode and ``botkit sim``."""

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    seed: int = 1
    tls: bool = False


class HttpSettings(BaseModel):
    """The embedded HTTP server from the environment (``BOTKIT_HTTP__LISTEN``,
    ``BOTKIT_HTTP__TOKEN``); wins over the bot TOML's ``[http]``."""

    listen: str = ""
    token: SecretStr | None = None


class NotifySettings(BaseModel):
    """Alert URLs from the environment: ``BOTKIT_NOTIFY__URLS``, apprise URLs separated by
    commas or whitespace; added to the bot TOML's ``[notify] urls``."""

    urls: SecretStr | None = None

    def url_list(self) -> list[str]:
        raw = self.urls.get_secret_value() if self.urls is not None else ""
        return [u for u in raw.replace(",", " ").split() if u]


class BotSettings(BaseSettings):
    """All of botkit's settings. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="BOTKIT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    mode: Mode = "sim"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    coinbase: CoinbaseSettings = CoinbaseSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    prime: PrimeSettings = PrimeSettings()
    sim: SimSettings = SimSettings()
    http: HttpSettings = HttpSettings()
    notify: NotifySettings = NotifySettings()
    coinbase_api_key: str | None = Field(None, validation_alias="COINBASE_API_KEY")
    coinbase_api_secret: SecretStr | None = Field(None, validation_alias="COINBASE_API_SECRET")
    _unknown: list[str] = PrivateAttr(default_factory=list)

    def warn_unknown(self) -> None:
        """Log a WARNING for each ``BOTKIT_*`` variable no setting reads (:func:`load_settings`
        found them), with the closest known name. Called once logging is set up."""
        for line in self._unknown:
            log.warning("%s", line)


OTHER_VARIABLES = frozenset(
    {"BOTKIT_NO_EXTENSIONS", "BOTKIT_CRYPTOFEED_PYTHON", "BOTKIT_UPDATE_SCREENSHOT"}
)
"""``BOTKIT_*`` variables that are not settings (the compiled kernel's switch, tools')."""
log = logging.getLogger("botkit.runtime")


_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def known_variables() -> list[str]:
    """Every ``BOTKIT_*`` variable a setting reads: ``BOTKIT_<SECTION>__<FIELD>``, and
    ``BOTKIT_<SECTION>`` (a whole section as JSON, which pydantic-settings reads too)."""
    out = []
    for name, info in BotSettings.model_fields.items():
        if info.validation_alias is not None:
            continue  # COINBASE_API_KEY & co: no prefix
        model = info.annotation
        out.append(f"BOTKIT_{name}".upper())
        if isinstance(model, type) and issubclass(model, BaseModel):
            out += [f"BOTKIT_{name}__{sub}".upper() for sub in model.model_fields]
    return out


def unknown_variables(names: Iterable[str]) -> list[str]:
    """A warning line for each ``BOTKIT_*`` name of ``names`` no setting reads (pure).

    Why: pydantic-settings ignores them, so a misspelt ``BOTKIT_NOTIFY__URL`` (for
    ``URLS``) silently sent no alert at all, and ``BOTKIT_HTTP__LISTN`` started no status
    page (a QA pass); the bot TOML refuses unknown keys, the environment cannot (it holds
    what other programs set), so it is said instead.
    """
    known = known_variables()
    out = []
    wanted = {n.upper() for n in names if n.upper().startswith("BOTKIT_")}
    malformed = {n for n in wanted if not _NAME.fullmatch(n)}
    if malformed:  # never echoed: "BOTKIT_HTTP__TOKEN:secret" is a name to dotenv (a review)
        out.append(
            f"{len(malformed)} line(s) of the .env file are not NAME=value (e.g. a ':' for "
            "the '='): ignored; check its BOTKIT_ lines"
        )
    for name in sorted(wanted - malformed):
        if name in known or name in OTHER_VARIABLES:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        hint = f"; did you mean {close[0]}?" if close else " (see .env.example)"
        out.append(f"environment variable {name} is not a botkit setting, ignored{hint}")
    return out


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> BotSettings:
    """Load settings from the environment and ``env_file``; explain any error.

    Args:
        env_file: the dotenv file to read (missing is fine), or None for none.
        **overrides: values that win over the environment (used by the CLI and tests).

    Raises:
        ConfigError: a value is invalid. The message names the variable and the
            problem but never the value, which may be a secret.
    """
    try:
        settings = BotSettings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            var = "BOTKIT_" + "__".join(p.upper() for p in loc) if loc else "settings"
            problems.append(f"{var}: {err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
    names = list(os.environ)
    dotenv = Path(env_file).expanduser() if env_file is not None else None
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values  # pydantic-settings' own reader of .env files

        names += [k for k in dotenv_values(dotenv) if k]
    settings._unknown = unknown_variables(names)
    return settings
