"""docker-compose.yml describes the production deployment: every service, health checks, two
Rasa servers on PostgreSQL and Redis, nothing published but the dashboard and the webhook (on
127.0.0.1), and no secret in the file."""

from __future__ import annotations

import re

import yaml

from bot.processes import endpoints
from bot.settings import ROOT, Settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
LONG_RUNNING = ("postgres", "redis", "actions", "rasa", "telegram", "dashboard")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return {str(k): str(v) for k, v in env.items()}


def test_every_process_is_a_service_with_a_health_check() -> None:
    assert set(LONG_RUNNING) <= set(SERVICES)
    for name in LONG_RUNNING:
        check = SERVICES[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    assert SERVICES["rasa"]["deploy"]["replicas"] == 2
    assert SERVICES["rasa"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert SERVICES["telegram"]["environment"]["TELEGRAM_MODE"] == "webhook"


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", value), (name, key, value)
            literal = re.sub(r"\$\{[^}]*\}", "", value)  # what is written, not referenced
            assert not re.search(r"://[^/@]*:[^/@]+@", literal), (name, key)
        command = " ".join(map(str, service.get("command") or []))
        assert "--auth-token ${RASA_TOKEN" in command or "--auth-token" not in command


def test_only_the_dashboard_and_the_webhook_are_published_on_localhost() -> None:
    published = {name: service["ports"] for name, service in SERVICES.items() if "ports" in service}
    assert set(published) == {"dashboard", "telegram"}
    for ports in published.values():
        assert all(str(port).startswith("127.0.0.1:") for port in ports)


def test_data_lives_in_volumes() -> None:
    assert {"pgdata", "redisdata", "models"} <= set(COMPOSE["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]


def test_rasa_endpoints_for_postgresql_and_redis_keep_the_password_out_of_the_file(
    tmp_path,
) -> None:
    settings = Settings(
        _env_file=None, var_dir=tmp_path,
        tracker_store="postgresql+psycopg://neetbot:s3cret@db.internal:5433/neetbot",
        lock_store_url="redis://:r3dis@cache.internal:6380/2",
    )  # fmt: skip
    document, secrets = endpoints(settings)
    assert document["tracker_store"] == {
        "type": "SQL", "dialect": "postgresql", "url": "db.internal", "port": 5433,
        "db": "neetbot", "username": "neetbot", "login_db": "neetbot",
        "password": "${NEETBOT_TRACKER_PASSWORD}",
    }  # fmt: skip
    assert document["lock_store"]["type"] == "neetbot_locks.AtomicRedisLockStore"
    assert document["lock_store"]["url"] == "cache.internal"
    assert document["lock_store"]["port"] == 6380 and document["lock_store"]["db"] == 2
    assert secrets == {"NEETBOT_TRACKER_PASSWORD": "s3cret", "NEETBOT_LOCK_PASSWORD": "r3dis"}
    assert "s3cret" not in yaml.safe_dump(document) and "r3dis" not in yaml.safe_dump(document)
    sqlite, none = endpoints(Settings(_env_file=None, var_dir=tmp_path))
    assert sqlite["tracker_store"]["dialect"] == "sqlite" and "lock_store" not in sqlite
    assert none == {}
