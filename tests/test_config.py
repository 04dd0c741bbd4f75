"""Settings: defaults, backend choice, and one-line errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visualizer_core.config import load_settings
from visualizer_core.errors import ConfigError


def test_defaults_are_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings(visualizer_home=tmp_path)
    assert settings.embedded
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'visualizer.db'}"
    assert settings.ai_backend == "local"
    assert settings.queue_prefix == "client"


def test_gemini_key_picks_gemini_unless_forced(tmp_path: Path) -> None:
    assert load_settings(visualizer_home=tmp_path, gemini_api_key="k").ai_backend == "gemini"
    forced = load_settings(visualizer_home=tmp_path, gemini_api_key="k", visualizer_ai="local")
    assert forced.ai_backend == "local"


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("GEMINI_MAX_RPM", "fast", "GEMINI_MAX_RPM"),
        ("GEMINI_MAX_RPM", "0", "greater than 0"),
        ("APP_ENV", "staging", "APP_ENV"),
        ("REDIS_URL", "localhost:6379", "redis://"),
        ("DATABASE_URL", "not a url", "SQLAlchemy"),
        ("R2_ENDPOINT", "minio:9000", "http"),
        ("VISUALIZER_AI", "gemini", "GEMINI_API_KEY"),
    ],
)
def test_a_malformed_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert words in message


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_MAX_RPM", "-1")
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", "hunter2")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_the_command_stops_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "VISUALIZER_HOME": str(tmp_path), "GEMINI_MAX_RPM": "lots"}
    done = subprocess.run(
        [sys.executable, "-m", "visualizer_cli", "status", "--session", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "GEMINI_MAX_RPM" in done.stderr
    assert "Traceback" not in done.stderr


def test_auth_secret_is_required_outside_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings(visualizer_home=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match="AUTH_SECRET"):
        settings.effective_auth_secret()
    embedded = load_settings(visualizer_home=tmp_path)
    secret = embedded.effective_auth_secret()
    assert len(secret) > 40
    assert embedded.effective_auth_secret() == secret  # kept
