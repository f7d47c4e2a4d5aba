"""RetrySettings: how often and how patiently a request or action is repeated.

A policy action's ``retry_policy`` (the contract's form, normalised to
seconds) and a registry's configured retries share this one model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetrySettings"]


class RetrySettings(BaseModel):
    """A policy action's retry policy, normalised to seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=3, ge=1)
    initial_backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=30.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
