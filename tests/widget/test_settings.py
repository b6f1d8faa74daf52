"""The widget server's settings (widget/settings.py): names, derived defaults, errors, read
once."""

from __future__ import annotations

import pytest

from widget.settings import SettingsError, WidgetSettings, get_settings, reset_settings


def test_every_variable_is_read_by_its_name() -> None:
    s = WidgetSettings.from_env(
        {
            "PARLEY_HOST": "0.0.0.0",
            "WEB_PORT": "9090",
            "RASA_URL": "http://rasa.internal:5005/",
            "RASA_PUBLIC_URL": "https://chat.example.com/",
            "RASA_TOKEN": "rasa-tok",
            "HANDOFF_URL": "http://127.0.0.1:3001/",
            "HANDOFF_INTERNAL_TOKEN": "tok",
            "WIDGET_ALLOWED_ORIGINS": "https://shop.example/, https://help.example",
            "WIDGET_TITLE": "Shop help",
            "WIDGET_LANGUAGE": "de",
            "WIDGET_API_RATE_PER_SESSION": "0",
            "WIDGET_API_RATE_PER_ADDRESS": "10",
        }
    )
    assert (s.host, s.port) == ("0.0.0.0", 9090)
    assert (s.rasa_url, s.rasa_public_url) == (
        "http://rasa.internal:5005",
        "https://chat.example.com",
    )
    assert (s.rasa_token, s.handoff_url, s.handoff_token) == (
        "rasa-tok",
        "http://127.0.0.1:3001",
        "tok",
    )
    assert s.allowed_origins == ("https://shop.example", "https://help.example")
    assert (s.demo_title, s.demo_language) == ("Shop help", "de")
    assert (s.api_per_session_per_minute, s.api_per_address_per_minute) == (0, 10)
    assert "rasa-tok" not in repr(s)


def test_defaults_and_derived_defaults() -> None:
    s = WidgetSettings.from_env({})
    assert (s.host, s.port, s.handoff_url, s.allowed_origins) == ("127.0.0.1", 8080, "", ("*",))
    assert s.rasa_url == s.rasa_public_url == "http://127.0.0.1:5005"
    s = WidgetSettings.from_env({"PARLEY_HOST": "10.0.0.2", "RASA_PORT": "6005"})
    assert s.rasa_url == s.rasa_public_url == "http://10.0.0.2:6005"
    assert (s.demo_title, s.api_per_session_per_minute, s.api_per_address_per_minute) == (
        "Parley Support",
        30,
        120,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_PORT", "http", "WEB_PORT must be a whole number, got 'http'"),
        (
            "WIDGET_API_RATE_PER_SESSION",
            "lots",
            "WIDGET_API_RATE_PER_SESSION must be a whole number (requests a minute), got 'lots'",
        ),
        (
            "WIDGET_API_RATE_PER_ADDRESS",
            "-5",
            "WIDGET_API_RATE_PER_ADDRESS must be 0 (off) or more",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        WidgetSettings.from_env({name: value})
    assert message in str(info.value)


def test_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9000")
    first = get_settings()
    monkeypatch.setenv("WEB_PORT", "9001")
    assert get_settings() is first and first.port == 9000
    reset_settings()
    assert get_settings().port == 9001
