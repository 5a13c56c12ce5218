"""Core ring: the settings of a Coinbase Prime venue (a key is scoped to portfolios).

Prime needs more than a key: every order endpoint is under a portfolio
(``/v1/portfolios/{portfolio_id}/…``), some endpoints under an entity, and the WebSocket
feed signs with the service account id (reference exchange-prime-api.md §2.A). Secrets are
``SecretStr`` (printed as ``**********``; the error messages never echo them).

This model lives in the venue folder until the runtime's settings
(:class:`botkit.runtime.settings.PrimeSettings`, which has only the key, secret,
passphrase and URL today) gain the three ids; the wiring then builds this from those.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["DEFAULT_REST_URL", "PrimeVenueSettings"]

DEFAULT_REST_URL = "https://api.prime.coinbase.com/v1"


class PrimeVenueSettings(BaseModel):
    """Everything the Prime REST client needs.

    Attributes:
        access_key: the API key id (``X-CB-ACCESS-KEY``).
        signing_key: the signing secret, used as raw text (not base64-decoded).
        passphrase: the key's passphrase.
        portfolio_id: the portfolio orders are placed in (one of the key's portfolios).
        entity_id: the entity owning it (entity-level endpoints; optional for trading).
        service_account_id: the key's service account id (the WebSocket needs it).
        rest_url: the REST base URL, ``/v1`` included (a simulator's ``rest_url``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_key: str = Field(min_length=1)
    signing_key: SecretStr
    passphrase: SecretStr
    portfolio_id: str = Field(min_length=1)
    entity_id: str = ""
    service_account_id: str = ""
    rest_url: str = DEFAULT_REST_URL

    @field_validator("signing_key", "passphrase")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                "is empty: copy it from the Prime UI where the API key was created "
                "(BOTKIT_PRIME__SIGNING_KEY / BOTKIT_PRIME__PASSPHRASE)"
            )
        return value

    @field_validator("rest_url")
    @classmethod
    def _v1(cls, value: str) -> str:
        url = value.rstrip("/")
        if not url.endswith("/v1"):
            raise ValueError(
                f"{value!r} must end with /v1 (Prime signs the path with it), "
                f"e.g. {DEFAULT_REST_URL}"
            )
        return url
