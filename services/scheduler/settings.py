"""The scheduler's own settings (documented in the README with the rest)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    dose_window_minutes: int = Field(
        default=180,
        ge=10,
        description="A dose reminder not handed to a channel this long after its time is "
        "recorded as expired, never sent late.",
    )
    lesson_window_minutes: int = Field(
        default=720, ge=10, description="The same for lesson messages."
    )
    daily_message_cap: int = Field(
        default=4, ge=1, description="At most this many messages to one patient a local day."
    )
    missed_days_alert: int = Field(
        default=3,
        ge=1,
        description="Consecutive days without an observed dose that raise a dropout-risk alert.",
    )
    receipt_timeout_minutes: int = Field(
        default=30,
        ge=1,
        description="A message sent on a channel with delivery receipts (SMS) and no receipt "
        "after this long is tried on the patient's next channel.",
    )
    retry_backoff_s: float = Field(
        default=5.0,
        ge=0.1,
        le=60,
        description="A send that failed and may succeed later (a timeout, a 5xx) is tried "
        "again after this many seconds times 2 to the power of its attempts so far (10, 20, 40, "
        "80 s at 5), at most 300 s, with up to 50 % jitter; a provider's Retry-After wins.",
    )
    release_batch_size: int = Field(
        default=2000, ge=1, description="Due occurrences claimed per planner transaction."
    )
    planner_interval_s: float = Field(
        default=0.5,
        gt=0,
        description="How often the planner looks for due reminders. Its tick bounds how late a "
        "reminder leaves: at 0.5 s, p99 lateness at a sustained 1,000/s is about 1 s (2 s: "
        "2.5 s); an idle tick is one indexed query.",
    )
