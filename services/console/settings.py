"""The console's settings (README, Configuration). The services' URLs default to where
`mmt up` runs them; in compose each names its container."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """How the console listens, where the APIs are, and how long a sign-in lasts."""

    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    console_port: int = Field(default=8000, description="The console's HTTP port.")
    console_scheduler_base_url: str = Field(
        default="http://127.0.0.1:8002", description="The scheduler API the console calls."
    )
    console_feedback_base_url: str = Field(
        default="http://127.0.0.1:8003", description="The feedback API the console calls."
    )
    console_content_base_url: str = Field(
        default="http://127.0.0.1:8001", description="The content API the console calls."
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="Mark the console's cookies Secure: set it whenever the console is "
        "reached over TLS (behind a proxy that terminates it, too).",
    )
    console_secret: str | None = Field(
        default=None,
        repr=False,
        description="Signs the CSRF tokens of the console's forms. Unset: a random one per "
        "process (forms opened before a restart are refused once and reissued); set it when "
        "several console processes share a port.",
    )
    console_idle_minutes: float = Field(
        default=30, gt=0, description="A session unused this long ends (sign in again)."
    )
    console_absolute_hours: float = Field(
        default=12,
        gt=0,
        le=24,
        description="A session ends this long after sign-in whatever its use; the API token "
        "minted at sign-in expires with it.",
    )
    console_api_timeout_s: float = Field(
        default=10, gt=0, description="How long the console waits for an API's answer."
    )
    console_signin_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins one client address may make in the window before it "
        "gets 429 (services/console/throttle.py).",
    )
    console_signin_window_minutes: float = Field(
        default=15, gt=0, description="The sliding window of the per-address sign-in limit."
    )
