"""The action server's settings (`python -m rasa_sdk --actions actions`): one typed object,
read once from the environment (`get_settings()`).

It holds the knowledge answerer's settings (knowledge/settings.py, `.knowledge`), how to
reach the handoff service's internal API, and what the handoff action needs: the identity
secret, support hours, the handoff rate limit and the LLM summary's model. Every variable is
in README.md's configuration table; handoff/env_settings.py says how names, blanks and
errors work."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from handoff.env_settings import Cached, SettingsError, switch, whole_number
from handoff.llm_summary import SummaryModel
from handoff.settings import internal_port, service_url
from handoff.support_hours import SupportHours, SupportHoursError
from knowledge.settings import KnowledgeEnv

__all__ = ["ActionSettings", "SettingsError", "get_settings", "override_settings", "reset_settings"]


class ActionSettings(KnowledgeEnv):
    """The knowledge answerer's variables (inherited from `KnowledgeEnv`), and these."""

    # The handoff service's internal API, found as the handoff service itself places it.
    handoff_port: int = Field(3000, validation_alias="HANDOFF_PORT")
    handoff_internal_port: int | None = Field(None, validation_alias="HANDOFF_INTERNAL_PORT")
    handoff_url_setting: str = Field("", validation_alias="HANDOFF_URL")
    handoff_token: str = Field("", validation_alias="HANDOFF_INTERNAL_TOKEN", repr=False)
    # Verifies the customer ids the site signs (handoff/identity.py).
    identity_secret: str = Field("", validation_alias="PARLEY_IDENTITY_SECRET", repr=False)
    # When people answer; empty: always.
    support_hours_text: str = Field("", validation_alias="SUPPORT_HOURS")
    # New handoffs per conversation and hour (0: no limit).
    handoff_rate_per_hour: int = Field(6, validation_alias="HANDOFF_RATE_PER_HOUR")
    # Load the answerer when the server starts instead of on the first question.
    knowledge_preload: bool = Field(False, validation_alias="KNOWLEDGE_PRELOAD")
    # Shared rate limits across action server replicas; empty: counted in this process.
    redis_url: str = Field("", validation_alias="REDIS_URL", repr=False)

    @field_validator("handoff_port", "handoff_internal_port", mode="before")
    @classmethod
    def _handoff_port(cls, value: Any, info: ValidationInfo) -> int | None:
        return None if value is None else whole_number(cls.env_name(info), value)

    @field_validator("handoff_rate_per_hour", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> int:
        return whole_number(
            "HANDOFF_RATE_PER_HOUR", value, minimum=0, hint=" (handoffs an hour, 0 for no limit)"
        )

    @field_validator("knowledge_preload", mode="before")
    @classmethod
    def _preload(cls, value: Any) -> bool:
        return switch(value, on=frozenset({"1", "true", "yes"}))

    @field_validator("support_hours_text", mode="after")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value.strip():
            try:
                SupportHours.parse(value)
            except SupportHoursError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()

    @property
    def handoff_url(self) -> str:
        """The handoff service's internal API: HANDOFF_URL, else loopback on its port."""
        port = internal_port(self.handoff_port, self.handoff_internal_port)
        return service_url(self.handoff_url_setting, port)

    @cached_property
    def support_hours(self) -> SupportHours | None:
        return SupportHours.parse(self.support_hours_text) if self.support_hours_text else None

    @property
    def summary_model(self) -> SummaryModel:
        """The model for LLM handoff summaries (the answerer's OPENAI_* settings)."""
        return SummaryModel(
            api_key=self.openai_api_key,
            base_url=self.openai_base_url,
            model=self.openai_model,
            timeout=self.llm_timeout,
        )


_settings: Cached[ActionSettings] = Cached(ActionSettings.from_env)


def get_settings() -> ActionSettings:
    """The action server's settings, read from the environment on first use."""
    return _settings.get()


def override_settings(settings: ActionSettings) -> None:
    """Use these settings instead of the environment's (tests)."""
    _settings.override(settings)


def reset_settings() -> None:
    """Read the environment again on the next get_settings() (tests)."""
    _settings.reset()
