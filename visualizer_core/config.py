"""One typed settings object for every variable of the contract.

``get_settings()`` reads the environment once per process; a malformed value raises
:class:`~visualizer_core.errors.ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from visualizer_core.errors import ConfigError, InvalidInput
from visualizer_core.private_hosts import PrivateHosts, parse_private_hosts
from visualizer_core.smtp_address import parse_smtp_url

__all__ = ["Settings", "get_settings", "load_settings", "new_secret", "secret_weakness"]


# Values of AUTH_SECRET that were published (in .env.example, in the README, in the project's
# test files, now or in its history): whoever has read them could sign session tokens. Compared
# without case and separators. The tests now make a fresh secret per run instead.
KNOWN_PLACEHOLDERS = (
    "change-me-to-a-long-random-string",
    "change-me",
    "changeme",
    "secret",
    "your-secret-here",
    "replace-me",
    "test-auth-secret-for-signed-sessions-only",
    "wl8q4XNgj1eT2OJL3d7TMmIjBBS7Dlaqnyi-3CL4P9c",
    "a long random cookie secret for tests",
)
MIN_SECRET_BYTES = 32
MIN_SECRET_BITS = 160.0
"""What 32 random bytes, encoded (``visualizer secret``), always clear: at least 200 bits by
:func:`estimated_bits`, hex-encoded at least 260."""


def new_secret() -> str:
    """A good ``AUTH_SECRET``: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def estimated_bits(secret: str) -> float:
    """How many guesses ``secret`` would take an attacker who knows how people make secrets, in
    bits: zxcvbn's reading of it (words, names, repetition, runs, keyboard walks, dates), with
    separators left out (a phrase's spaces and hyphens add next to nothing) and each letter or
    digit that fits no pattern counted at the size of the alphabet the secret draws on.

    Not zxcvbn's own total: that one multiplies by the number of ways to order the patterns
    found, which rates eight dictionary words as high as 43 random characters.
    """
    from zxcvbn import zxcvbn

    folded = "".join(c for c in secret if c.isalnum())[:256]
    if not folded:
        return 0.0
    alphabet = sum(
        size
        for test, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
        if any(test(c) for c in folded)
    )
    per_char = math.log2(max(alphabet, 10))
    bits = 0.0
    for match in zxcvbn(folded)["sequence"]:
        if match["pattern"] == "bruteforce":
            bits += len(match["token"]) * per_char
        else:
            bits += math.log2(max(float(match["guesses"]), 1.0))
    return bits


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign login sessions, or None when it will do.

    The rule: at least 32 bytes, none of the published values, and at least 160 bits by
    :func:`estimated_bits`, which random bytes of that length (``visualizer secret``) always
    clear and repetition, alphabet runs, keyboard walks and phrases of words do not.
    """
    folded = "".join(c for c in secret.lower() if c.isalnum())
    if any(
        folded == "".join(c for c in p.lower() if c.isalnum()) for p in KNOWN_PLACEHOLDERS
    ) or any(word in folded for word in ("changeme", "placeholder", "replaceme", "example")):
        return "is a published placeholder, not a secret"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    if estimated_bits(secret) < MIN_SECRET_BITS:
        return "is guessable (words, repetition, runs or keyboard walks), not 32 random bytes"
    return None


def _model_table(value: object, rows: str) -> dict[str, object] | None:
    """A variable's JSON text (or a value already parsed) as a map of model names to ``rows``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("not JSON") from None
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"must map model names to {rows}")
    return value


_ACCOUNT_LIMITS = ("spend_usd_per_10min", "spend_usd_per_month")


def _account_limits(row: object) -> None:
    """Checks ``GEMINI_LIMITS["account"]``: the billing account's spend limits in USD."""
    if not isinstance(row, dict) or not row:
        raise ValueError('account: needs a limit such as {"spend_usd_per_10min": 10}')
    for name, limit in row.items():
        if name not in _ACCOUNT_LIMITS:
            raise ValueError(f"account: unknown limit {name!r} ({' or '.join(_ACCOUNT_LIMITS)})")
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
            raise ValueError(f"account: {name} must be a number of USD above 0")


class Settings(BaseSettings):
    """Configuration from the environment; field ``foo_bar`` is the variable ``FOO_BAR``."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    visualizer_home: Path = Path(".visualizer")
    database_url: str | None = None
    redis_url: str | None = None
    app_env: Literal["client", "admin"] = "client"

    r2_bucket: str | None = None
    r2_endpoint: str | None = None
    r2_access_key_id: str | None = None
    r2_secret_access_key: SecretStr | None = None
    r2_public_url: str | None = None

    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    gemini_image_model: str | None = None
    gemini_text_model: str | None = None
    gemini_api_version: Literal["v1beta", "v1"] | None = None
    """The API version the SDK speaks; unset: the SDK's default for Google's API (``v1`` in
    google-genai 3.x). ``v1beta`` is what Google's documentation and its own clients use."""
    gemini_max_rpm: int | None = Field(default=None, gt=0)
    """Requests a minute to each Gemini model not listed in ``GEMINI_LIMITS``, all workers
    together; unset: no limit of our own for those models."""
    gemini_limits: Annotated[dict[str, dict[str, int | float]] | None, NoDecode] = None
    """Per-model limits across all workers, as JSON: ``{"model": {"rpm": N, "tpm": N, "rpd": N}}``
    (requests a minute, tokens a minute, requests a Pacific-time day; each key optional), and
    the billing account's spend limits under ``"account"``: ``{"spend_usd_per_10min": X,
    "spend_usd_per_month": Y}`` (USD over a rolling 10 minutes and a calendar month, UTC)."""
    gemini_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Seconds one Gemini call may take before it counts as a (transient) timeout."""
    gemini_prices: Annotated[dict[str, dict[str, float]] | None, NoDecode] = None
    """Price rows (USD per 1M tokens) added to or replacing the built-in table, as JSON:
    ``{"model": {"input": 1.5, "output": 7.5, "image_output": 30}}``."""
    visualizer_ai: Literal["gemini", "local"] | None = None

    unsplash_access_key: SecretStr | None = None
    unsplash_api_url: str = "https://api.unsplash.com"

    auth_secret: SecretStr | None = None
    smtp_url: SecretStr | None = None
    """``smtp://user:pass@host:587`` (STARTTLS) or ``smtps://user:pass@host:465``: invitation
    and password-reset links go by e-mail; unset, links are shown to the owner instead."""
    smtp_from: str | None = None
    """The sender address of those mails (``visualizer@<SMTP host>`` by default)."""
    visualizer_studio_url: str = "http://localhost:8501"
    """The studio's public address, the start of every link sent by e-mail (never taken from
    a request's Host header, which whoever sends the request chooses)."""

    # The project's own.
    visualizer_private_hosts_allowed: str | None = None
    """Comma-separated host names (``*.suffix`` too) and CIDRs that outbound requests (webhooks,
    photo downloads) may reach although they are not public: tests and on-premise installs."""
    visualizer_workers: int = Field(default=4, ge=1, le=64)
    """Worker threads of the in-process queue (embedded default)."""
    visualizer_judgement_workers: int = Field(default=2, ge=0, le=64)
    """Slots for fidelity judgements, apart from the image slots: threads of the in-process
    queue, and the default of ``visualizer worker --judgement-concurrency`` (0: this worker
    judges nothing)."""
    visualizer_max_attempts: int = Field(default=4, ge=1, le=20)
    """Attempts per image before a transient failure becomes final."""
    visualizer_heartbeat_s: float = Field(default=15.0, ge=0.2, le=600)
    """Seconds between a worker's beats on the rows it works on; a row whose worker missed
    six beats is taken as orphaned by recovery, and Celery workers sweep every two beats."""
    visualizer_ai_latency_s: float = Field(default=0.0, ge=0, le=600)
    """Seconds the local AI waits before each generated image, to stand in for a real model's
    latency in benchmarks and recovery tests; 0 (no wait) by default, ignored for Gemini."""
    visualizer_limit_window_s: int = Field(default=60, ge=1, le=3600)
    """Test knob: the length in seconds of the "minute" of the per-model limits (rpm, tpm).
    60 in production; tests and benchmarks shorten it rather than wait a real minute."""
    visualizer_limit_day_s: float | None = Field(default=None, gt=0)
    """Test knob: the length in seconds of the "day" of ``rpd`` limits. Unset (production):
    Gemini's day, which ends at midnight Pacific time."""
    visualizer_retry_base_s: float = Field(default=15.0, ge=0, le=3600)
    """The first backoff before a transient provider failure is retried; each later retry
    waits about twice as long (with jitter), up to ``visualizer_retry_max_s``."""
    visualizer_retry_max_s: float = Field(default=600.0, ge=0, le=3600)
    """The longest single backoff between two attempts at one call."""
    visualizer_session_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    """How long a login session stays valid, in seconds (a week by default)."""

    @field_validator("database_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError("not a SQLAlchemy database URL") from None
        return value

    @field_validator("gemini_prices", mode="before")
    @classmethod
    def _price_table(cls, value: object) -> object:
        table = _model_table(value, '{"input": .., "output": ..} prices')
        for model, row in (table or {}).items():
            if not isinstance(row, dict) or not {"input", "output"} <= set(row):
                raise ValueError(f"{model}: needs input and output prices (USD per 1M tokens)")
            extra = set(row) - {"input", "output", "image_output"}
            if extra:
                raise ValueError(f"{model}: unknown price {sorted(extra)[0]!r}")
        return table

    @field_validator("gemini_limits", mode="before")
    @classmethod
    def _model_limits(cls, value: object) -> object:
        table = _model_table(value, '{"rpm": N, "tpm": N, "rpd": N}')
        for model, row in (table or {}).items():
            if model == "account":
                _account_limits(row)
                continue
            if not isinstance(row, dict) or not row:
                raise ValueError(f'{model}: needs a limit such as {{"rpm": 100}}')
            for name, limit in row.items():
                if name not in ("rpm", "tpm", "rpd"):
                    raise ValueError(f"{model}: unknown limit {name!r} (rpm, tpm or rpd)")
                if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                    raise ValueError(f"{model}: {name} must be a whole number above 0")
        return table

    @field_validator("visualizer_private_hosts_allowed")
    @classmethod
    def _private_hosts(cls, value: str | None) -> str | None:
        parse_private_hosts(value)  # a ValueError names the bad entry
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_smtp_url(value.get_secret_value())
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str | None) -> str | None:
        if value is not None:
            from visualizer_core.security import normalise_email

            try:
                return normalise_email(value)
            except InvalidInput:
                raise ValueError("not an email address") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator(
        "r2_endpoint",
        "r2_public_url",
        "gemini_base_url",
        "unsplash_api_url",
        "visualizer_studio_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("auth_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = secret_weakness(value.get_secret_value())
            if problem:
                raise ValueError(f"{problem}; make one with: visualizer secret")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.visualizer_ai == "gemini" and self.gemini_api_key is None:
            raise ValueError("VISUALIZER_AI is gemini but GEMINI_API_KEY is not set")
        return self

    # -- derived choices -------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """``DATABASE_URL``, or the embedded SQLite file in ``VISUALIZER_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.visualizer_home / 'visualizer.db').resolve()}"

    @property
    def private_hosts_allowed(self) -> PrivateHosts:
        """What ``VISUALIZER_PRIVATE_HOSTS_ALLOWED`` lets outbound requests reach."""
        return parse_private_hosts(self.visualizer_private_hosts_allowed)

    @property
    def storage_root(self) -> Path:
        return self.visualizer_home / "storage"

    @property
    def ai_backend(self) -> Literal["gemini", "local"]:
        if self.visualizer_ai is not None:
            return self.visualizer_ai
        return "gemini" if self.gemini_api_key is not None else "local"

    @property
    def stale_after_s(self) -> float:
        """Seconds without a heartbeat after which a generating row counts as orphaned."""
        return 6 * self.visualizer_heartbeat_s

    @property
    def queue_prefix(self) -> str:
        """The prefix of every queue key: ``client`` or ``admin``."""
        return self.app_env

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded default (SQLite, no Redis): nothing to configure."""
        return self.effective_database_url.startswith("sqlite") and self.redis_url is None

    def effective_auth_secret(self) -> str:
        """``AUTH_SECRET``; on the embedded default one is generated and kept in the home."""
        if self.auth_secret is not None:
            return self.auth_secret.get_secret_value()
        if not self.embedded:
            raise ConfigError("AUTH_SECRET: required when DATABASE_URL or REDIS_URL is set")
        path = self.visualizer_home / "auth_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


_URLS_WITH_PASSWORDS = {"SMTP_URL", "DATABASE_URL", "REDIS_URL"}


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return message
    field = str(first["loc"][0]).upper()
    if "KEY" in field or "SECRET" in field or field in _URLS_WITH_PASSWORDS:
        return f"{field}: {message}"
    return f"{field}: {message} (got {first.get('input')!r})"


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ``overrides``); a bad value raises a one-line ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
