"""The widget server's settings (`python -m widget.server`): one typed object, read once from
the environment (`get_settings()`).

Every variable is in README.md's configuration table; handoff/env_settings.py says how
names, blanks and errors work."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from handoff.env_settings import Cached, EnvSettings, SettingsError, whole_number

__all__ = ["SettingsError", "WidgetSettings", "get_settings", "override_settings", "reset_settings"]


class WidgetSettings(EnvSettings):
    host: str = Field("127.0.0.1", validation_alias="PARLEY_HOST")
    port: int = Field(8080, validation_alias="WEB_PORT")
    rasa_port: int = Field(5005, validation_alias="RASA_PORT")
    # How this server reaches Rasa (default: PARLEY_HOST and RASA_PORT) and how browsers reach
    # Rasa's socket.io channel (default: the same).
    rasa_url_setting: str = Field("", validation_alias="RASA_URL")
    rasa_public_url_setting: str = Field("", validation_alias="RASA_PUBLIC_URL")
    rasa_token: str = Field("", validation_alias="RASA_TOKEN", repr=False)
    # The handoff service's internal API; empty: no handoff state, no survey.
    handoff_url: str = Field("", validation_alias="HANDOFF_URL")
    handoff_token: str = Field("", validation_alias="HANDOFF_INTERNAL_TOKEN", repr=False)
    allowed_origins_setting: str = Field("*", validation_alias="WIDGET_ALLOWED_ORIGINS")
    demo_title: str = Field("Parley Support", validation_alias="WIDGET_TITLE")
    demo_language: str = Field("", validation_alias="WIDGET_LANGUAGE")
    # Requests a minute to /api (history reloads, survey answers); 0 switches a limit off.
    api_per_session_per_minute: int = Field(30, validation_alias="WIDGET_API_RATE_PER_SESSION")
    api_per_address_per_minute: int = Field(120, validation_alias="WIDGET_API_RATE_PER_ADDRESS")
    # The limits above shared by every widget server replica; empty: counted in this process.
    redis_url: str = Field("", validation_alias="REDIS_URL", repr=False)

    @field_validator("port", "rasa_port", mode="before")
    @classmethod
    def _port(cls, value: Any, info: ValidationInfo) -> int:
        return whole_number(cls.env_name(info), value)

    @field_validator("api_per_session_per_minute", "api_per_address_per_minute", mode="before")
    @classmethod
    def _per_minute(cls, value: Any, info: ValidationInfo) -> int:
        name = cls.env_name(info)
        count = whole_number(name, value, hint=" (requests a minute)")
        if count < 0:
            raise ValueError(f"{name} must be 0 (off) or more, got {count}")
        return count

    @field_validator("handoff_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def rasa_url(self) -> str:
        return (self.rasa_url_setting or f"http://{self.host}:{self.rasa_port}").rstrip("/")

    @property
    def rasa_public_url(self) -> str:
        return (self.rasa_public_url_setting or self.rasa_url).rstrip("/")

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        origins = self.allowed_origins_setting.split(",")
        return tuple(o.strip().rstrip("/") for o in origins if o.strip())


_settings: Cached[WidgetSettings] = Cached(WidgetSettings.from_env)


def get_settings() -> WidgetSettings:
    """The widget server's settings, read from the environment on first use."""
    return _settings.get()


def override_settings(settings: WidgetSettings) -> None:
    """Use these settings instead of the environment's (tests)."""
    _settings.override(settings)


def reset_settings() -> None:
    """Read the environment again on the next get_settings() (tests)."""
    _settings.reset()
