"""What every process's settings share (the Python 3.11 side): environment variables read
once into a typed pydantic-settings object, with plain-language errors.

Each process has one settings class, in one module, with a cached accessor:

- the handoff service and its CLI: `handoff.settings.Settings`, `handoff.settings.get_settings()`
- the action server: `actions.settings.ActionSettings`, `actions.settings.get_settings()`
- the widget server: `widget.settings.WidgetSettings`, `widget.settings.get_settings()`
- the knowledge CLI: `knowledge.settings.KnowledgeCliSettings`, `knowledge.settings.get_settings()`

(The Rasa server runs Rasa's pydantic 1 and reads its few settings with plain code:
parley_shared/message_guard.py, bot/shared/parley_shared/triggers.py.) Every variable is in the
table in README.md, "Configuration".

The variable names are the fields' validation aliases, matched exactly (case-sensitive). A
blank value means the default, as it always has, except for the variables a class lists in
`KEEP_BLANK` (where empty means "off"). `from_env(mapping)` reads that mapping and nothing
else; `from_env()` reads os.environ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import ValidationError, ValidationInfo, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


# The mapping `from_env(mapping)` reads instead of os.environ (per thread and task).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("parley_environ", default=None)


class _MappingSource(EnvSettingsSource):
    """The environment-variable source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._environ


class EnvSettings(BaseSettings):
    """Base of the per-process settings classes."""

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        arbitrary_types_allowed=True,
    )

    # Variables whose empty value means something ("off"), so it is not the default.
    KEEP_BLANK: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables only: no .env file, no secrets folder (`make run` users
        # export .env themselves, see README).
        environ = _ENVIRON.get()
        if environ is not None:
            return init_settings, _MappingSource(settings_cls, environ)
        return init_settings, env_settings

    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if key in cls.KEEP_BLANK or not (isinstance(value, str) and not value.strip())
        }

    @classmethod
    def env_name(cls, info: ValidationInfo) -> str:
        """The variable a field validator is reading (for its error message)."""
        field = cls.model_fields[info.field_name or ""]
        return str(field.validation_alias or info.field_name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings from `environ` (only from it), or from os.environ; a bad value raises
        SettingsError naming the variable."""
        token = _ENVIRON.set(None if environ is None else dict(environ))
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError(plain_message(exc)) from None
        finally:
            _ENVIRON.reset(token)


def plain_message(exc: ValidationError) -> str:
    """The first problem of a validation error, as a sentence naming the variable."""
    messages = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            messages.append(str(cause))
            continue
        name = ".".join(str(part) for part in error["loc"]) or "a setting"
        messages.append(f"{name}: {error['msg']}, got {error.get('input')!r}")
    return "; ".join(messages)


# --- parsers for field validators (raise ValueError with the sentence to show) -------------


def whole_number(name: str, value: Any, minimum: int | None = None, hint: str = "") -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raw = str(value).strip()
        try:
            number = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number{hint}, got {raw!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be {minimum} or more, got {number}")
    return number


def number(name: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raw = str(value).strip()
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def switch(value: Any, on: frozenset[str] = frozenset({"1", "true", "yes", "on"})) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in on


S = TypeVar("S", bound=EnvSettings)


class Cached(Generic[S]):
    """A process's settings, read on first use and kept (`get`), with `reset` and `override`
    for tests."""

    def __init__(self, load: Callable[[], S]) -> None:
        self._load = load
        self._value: S | None = None
        self._lock = threading.Lock()

    def get(self) -> S:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value

    def override(self, value: S) -> None:
        """Use these settings from now on (tests)."""
        with self._lock:
            self._value = value

    def reset(self) -> None:
        """Read the environment again on the next `get` (tests change it between cases)."""
        with self._lock:
            self._value = None
