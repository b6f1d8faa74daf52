"""The supervisor behind `make run` and the integration tests."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
from pathlib import Path

import pytest

from scripts import stack
from scripts.stack import Service, Settings, Stack, StackError


def make_bot(root: Path) -> None:
    (root / "bot" / "data").mkdir(parents=True)
    (root / "config.yml").write_text("pipeline: []\n")
    (root / "domain.yml").write_text("intents: [greet]\n")
    (root / "bot" / "data" / "nlu.yml").write_text("nlu: []\n")


def test_fingerprint_changes_with_training_data_only(tmp_path: Path) -> None:
    make_bot(tmp_path)
    before = stack.model_fingerprint(tmp_path)

    (tmp_path / "README.md").write_text("not training data")
    (tmp_path / "bot" / "__pycache__").mkdir()
    (tmp_path / "bot" / "__pycache__" / "x.cpython-310.pyc").write_bytes(b"\0")
    assert stack.model_fingerprint(tmp_path) == before

    # Channels run in the server only: changing one needs no retraining.
    (tmp_path / "bot" / "socketio_channel.py").write_text("# channel\n")
    assert stack.model_fingerprint(tmp_path) == before

    (tmp_path / "bot" / "data" / "nlu.yml").write_text("nlu: [changed]\n")
    assert stack.model_fingerprint(tmp_path) != before


def test_fingerprint_notices_a_renamed_file(tmp_path: Path) -> None:
    make_bot(tmp_path)
    before = stack.model_fingerprint(tmp_path)

    (tmp_path / "bot" / "data" / "nlu.yml").rename(tmp_path / "bot" / "data" / "other.yml")

    assert stack.model_fingerprint(tmp_path) != before


def test_existing_model_is_reused_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(Settings.from_env({}), models_dir=tmp_path)
    model = stack.model_path(settings)
    model.write_bytes(b"model")
    monkeypatch.setattr(stack.subprocess, "run", pytest.fail)  # training would call this

    assert stack.ensure_model(settings) == model


def test_failed_training_is_an_error_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(Settings.from_env({}), models_dir=tmp_path)

    class Failed:
        returncode = 1

    monkeypatch.setattr(stack.subprocess, "run", lambda *a, **k: Failed())

    with pytest.raises(StackError, match="Training the Rasa model failed"):
        stack.ensure_model(settings)


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"RASA_PORT": "6005", "PARLEY_STATE_DIR": "/srv/parley"})

    assert settings.rasa_port == 6005
    assert settings.actions_port == 5055
    assert settings.state_dir == Path("/srv/parley")
    assert settings.rasa_url == "http://127.0.0.1:6005"


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_a_bad_port_is_a_plain_error(value: str) -> None:
    with pytest.raises(StackError, match="RASA_PORT"):
        Settings.from_env({"RASA_PORT": value})


def test_token_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env({}), state_dir=tmp_path)

    first = stack.rasa_token(settings)

    assert len(first) >= 32
    assert stack.rasa_token(settings) == first
    assert (tmp_path / "rasa-token").stat().st_mode & 0o077 == 0


def test_handoff_token_is_kept_and_given_to_every_child(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env({}), state_dir=tmp_path)

    made = stack.handoff_token(settings)

    assert len(made) >= 32 and made != stack.rasa_token(settings)
    assert stack.handoff_token(settings) == made
    assert (tmp_path / "handoff-token").stat().st_mode & 0o077 == 0
    assert stack.child_env(settings, "rasa", made)["HANDOFF_INTERNAL_TOKEN"] == made
    # One set in the environment wins over the kept one.
    chosen = Settings.from_env({"HANDOFF_INTERNAL_TOKEN": "from-env"})
    assert stack.handoff_token(chosen) == "from-env"


def test_a_port_in_use_is_reported_before_starting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = dataclasses.replace(Settings.from_env({}), state_dir=tmp_path, rasa_port=port)
        with pytest.raises(StackError, match=f"{port} \\(RASA_PORT\\) is already in use"):
            Stack(settings).start(model=tmp_path / "model.tar.gz")


def test_a_crashed_child_is_reported_with_its_last_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = Service(
        "actions",
        [sys.executable, "-c", "print('loading'); raise SystemExit('cannot import knowledge')"],
        ready=lambda: False,
        url="",
    )
    monkeypatch.setattr(stack, "services", lambda *args: [crashing])
    monkeypatch.setattr(Stack, "index_knowledge", lambda self: None)
    settings = dataclasses.replace(
        Settings.from_env({}),
        state_dir=tmp_path,
        rasa_port=stack.free_port(),
        actions_port=stack.free_port(),
        web_port=stack.free_port(),
        handoff_port=stack.free_port(),
        handoff_internal_port=stack.free_port(),
    )

    with pytest.raises(StackError) as error, Stack(settings) as running:
        running.start(model=tmp_path / "model.tar.gz", timeout=30)

    message = str(error.value)
    assert "actions process stopped unexpectedly (exit code 1)" in message
    assert "cannot import knowledge" in message
    assert (tmp_path / "logs" / "actions.log").read_text().startswith("loading")


def test_the_internal_api_and_the_action_server_stay_on_loopback() -> None:
    """PARLEY_HOST opens the public servers; the action server and the handoff service's
    internal API stay where only this machine reaches them."""
    settings = Settings.from_env({"PARLEY_HOST": "0.0.0.0", "HANDOFF_PORT": "4000"})
    env = stack.child_env(settings, "t", "h")
    assert env["SANIC_HOST"] == "127.0.0.1"
    assert settings.actions_url.startswith("http://127.0.0.1:")
    assert env["HANDOFF_INTERNAL_PORT"] == "4001"
    assert env["HANDOFF_URL"] == "http://127.0.0.1:4001"


def test_a_token_beginning_with_a_dash_reaches_rasa_whole(tmp_path: Path) -> None:
    # secrets.token_urlsafe begins with "-" once in 64: Rasa's argparse then saw an option.
    settings = dataclasses.replace(Settings.from_env({}), state_dir=tmp_path)
    [rasa] = [
        s for s in stack.services(settings, tmp_path / "m.tar.gz", "-dash") if s.name == "rasa"
    ]
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("-t", "--auth-token")
    known, _ = parser.parse_known_args(rasa.argv[2:])
    assert known.auth_token == "-dash"
