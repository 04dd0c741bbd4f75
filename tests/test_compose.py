"""The compose stack cannot run here (no Docker engine); check what can be checked of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from visualizer_core.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def test_the_stack_has_every_service_with_healthchecks() -> None:
    services = _compose()["services"]
    wanted = {
        "postgres",
        "redis",
        "minio",
        "minio-bucket",
        "migrate",
        "worker",
        "studio",
        "jupyter",
    }
    assert wanted <= set(services)
    for name in ("postgres", "redis", "minio", "worker", "studio", "jupyter"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_app_services_get_every_variable_the_code_reads() -> None:
    services = _compose()["services"]
    # Every field of the settings that a deployment sets, by its variable name.
    needed = {name.upper() for name in Settings.model_fields} - {
        "VISUALIZER_WORKERS",
        "VISUALIZER_MAX_ATTEMPTS",
        "VISUALIZER_AI_LATENCY_S",  # slows the local AI down for benchmarks and tests only
        # test knobs: shorter "minute" and "day" of the per-model limits
        "VISUALIZER_LIMIT_WINDOW_S",
        "VISUALIZER_LIMIT_DAY_S",
    }
    for name in ("migrate", "worker", "studio", "jupyter"):
        env = _env(services[name])
        missing = needed - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://redis:")


def test_secrets_are_required_not_defaulted() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in (
        "POSTGRES_PASSWORD",
        "AUTH_SECRET",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
    ):
        assert re.search(r"\$\{" + variable + r":\?", text), f"{variable} is not ${{VAR:?}}"


def test_app_services_wait_for_migrations_and_the_bucket() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["visualizer", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "studio", "jupyter"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["minio-bucket"]["condition"] == "service_completed_successfully"
    assert services["worker"]["command"][:2] == ["visualizer", "worker"]


def test_env_example_names_every_required_variable() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (ROOT / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert required <= defined, f".env.example lacks {sorted(required - defined)}"
