"""Core ring: the settings of a Coinbase Exchange venue (key, base64 secret, passphrase, URL).

An Exchange key is scoped to one profile, so unlike Prime no ids are needed: the key, its
base64 secret and its passphrase (possibly empty: the header is sent anyway). Secrets are
``SecretStr`` and error messages never echo them. The runtime's
:class:`botkit.runtime.settings.ExchangeSettings` (``BOTKIT_EXCHANGE__*``) holds the same
fields; the wiring builds this from it.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["DEFAULT_REST_URL", "ExchangeVenueSettings"]

DEFAULT_REST_URL = "https://api.exchange.coinbase.com"


class ExchangeVenueSettings(BaseModel):
    """Everything the Exchange REST client needs.

    Attributes:
        api_key: the key (``CB-ACCESS-KEY``).
        api_secret: the base64 secret shown once when the key was created.
        passphrase: the passphrase chosen with the key ("" if none).
        rest_url: the REST base URL (a simulator's ``rest_url``).
        decimal_timestamp: sign with ``1760000000.123`` rather than whole seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    passphrase: SecretStr = SecretStr("")
    rest_url: str = DEFAULT_REST_URL
    decimal_timestamp: bool = False

    @field_validator("api_secret")
    @classmethod
    def _base64(cls, value: SecretStr) -> SecretStr:
        raw = "".join(value.get_secret_value().split())
        try:
            ok = bool(raw) and bool(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                "is not a base64 string: copy the secret shown when the Exchange key was "
                "created (BOTKIT_EXCHANGE__API_SECRET); a CDP key or a Prime signing key does "
                "not work here"
            )
        return value

    @field_validator("rest_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")
