"""The staff-training settings (documented in the README with the rest)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainingSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    training_nudges: bool = Field(
        default=True,
        description="Text staff phones (over the SMS channel) when a training quiz round is "
        "due or a staff lesson they have not read is published; false turns it off.",
    )
