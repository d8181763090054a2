"""The commands that start each process, and a small supervisor used by `neetbot run`.

Tests start the same commands, so what is tested is what runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from sqlalchemy.engine import make_url

from bot.settings import ROOT, Settings
from connectors.rasa.training import RASA_BIN, RASA_PROJECT, rasa_env

logger = logging.getLogger(__name__)

RASA_PYTHON = RASA_BIN.with_name("python")
RASA_LAUNCHER = RASA_PROJECT / "neetbot_launch.py"
RASA_TOKEN_VARIABLE = "NEETBOT_RASA_TOKEN"  # noqa: S105 - read by RASA_LAUNCHER


@dataclass
class ProcessSpec:
    """One process: its name, command line and environment."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT


def app_env(settings: Settings) -> dict[str, str]:
    """The environment our processes share: the settings they must agree on."""
    assert settings.rasa_token is not None and settings.secret_key is not None
    assert settings.pseudonym_key is not None
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "RASA_PORT": str(settings.rasa_port),
        "ACTIONS_PORT": str(settings.actions_port),
        "RASA_TOKEN": settings.rasa_token.get_secret_value(),
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "VAR_DIR": str(settings.var_dir),
        "PYTHONUNBUFFERED": "1",
    }


def endpoints(settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """Rasa's endpoints for these settings, and the environment holding their secrets (Rasa
    substitutes `${...}` from the environment, so no password is written to the file)."""
    secrets: dict[str, str] = {}
    url = make_url(settings.tracker_store_url)
    if url.get_backend_name() == "sqlite":
        tracker: dict[str, Any] = {"type": "SQL", "dialect": "sqlite", "db": url.database}
    else:
        tracker = {
            "type": "SQL", "dialect": url.get_backend_name(), "url": url.host or "127.0.0.1",
            "port": url.port or 5432, "db": url.database, "username": url.username or "",
            "login_db": url.database,
        }  # fmt: skip
        if url.password:
            tracker["password"] = "${NEETBOT_TRACKER_PASSWORD}"  # noqa: S105 - a reference
            secrets["NEETBOT_TRACKER_PASSWORD"] = str(url.password)
    result: dict[str, Any] = {
        "action_endpoint": {"url": settings.actions_url},
        "tracker_store": tracker,
    }
    if settings.lock_store_url:
        lock = urlsplit(settings.lock_store_url)
        # Rasa's own "redis" type has a race between servers (rasa_project/neetbot_locks.py).
        result["lock_store"] = {
            "type": "neetbot_locks.AtomicRedisLockStore",
            "url": lock.hostname or "127.0.0.1", "port": lock.port or 6379,
            "db": int((lock.path or "/0").strip("/") or 0), "key_prefix": "neetbot",
        }  # fmt: skip
        if lock.password:
            result["lock_store"]["password"] = "${NEETBOT_LOCK_PASSWORD}"  # noqa: S105
            secrets["NEETBOT_LOCK_PASSWORD"] = lock.password
    return result, secrets


def rasa_server(settings: Settings, model: Path) -> ProcessSpec:
    """The Rasa server: REST channel and HTTP API (token-protected) on 127.0.0.1 only, with
    its endpoints (actions, tracker store, lock store) written from the settings.

    Started through rasa_project/neetbot_launch.py, which reads the token from the
    environment: on the command line (`--auth-token`) every local user could read it in `ps`."""
    assert settings.rasa_token is not None
    document, secrets = endpoints(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    endpoints_file = settings.var_dir / f"endpoints-{settings.rasa_port}.yml"
    endpoints_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env = {
        **rasa_env(settings),
        **secrets,
        RASA_TOKEN_VARIABLE: settings.rasa_token.get_secret_value(),
    }
    command = [
        str(RASA_PYTHON), str(RASA_LAUNCHER), "run",
        "--model", str(model),
        "--endpoints", str(endpoints_file), "--credentials", "credentials.yml",
        "--enable-api",
        "--interface", settings.rasa_host, "--port", str(settings.rasa_port),
    ]  # fmt: skip
    return ProcessSpec("rasa", command, env, RASA_PROJECT)


def action_server(settings: Settings) -> ProcessSpec:
    """The rasa-sdk action server with our `actions` package, on 127.0.0.1 only."""
    env = {**app_env(settings), "SANIC_HOST": "127.0.0.1", "ACTION_SERVER_SANIC_WORKERS": "1"}
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "actions"]
    return ProcessSpec("actions", [*command, "--port", str(settings.actions_port)], env)


def telegram_connector(settings: Settings) -> ProcessSpec:
    """The Telegram connector (polling or webhook, from the settings)."""
    return ProcessSpec("telegram", [sys.executable, "-m", "connectors.telegram"], app_env(settings))


def dashboard(settings: Settings) -> ProcessSpec:
    """The web dashboard for coaches and admins (uvicorn, one worker)."""
    command = [
        sys.executable, "-m", "uvicorn", "dashboard.app:create_app", "--factory",
        "--host", settings.dashboard_host, "--port", str(settings.dashboard_port),
        "--no-access-log", "--no-server-header",
    ]  # fmt: skip
    env = dict(app_env(settings))
    # No Telegram token: a coach's messages go into the outbox, which the connector sends.
    env.pop("TELEGRAM_BOT_TOKEN", None)
    env["HANDOFF_TIMEOUT_SECONDS"] = str(settings.handoff_timeout_seconds)
    # The studio edits and trains this project, into this cache.
    env["RASA_PROJECT_DIR"] = str(settings.rasa_project_dir)
    env["TRAINING_CONFIG"] = settings.training_config
    env["MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    env["MODELS_KEPT"] = str(settings.models_kept)
    env["STUDIO_EVAL_DIR"] = str(settings.studio_eval_dir)
    env["EMBEDDING_CACHE"] = str(settings.embedding_cache)  # erasure reaches it too
    return ProcessSpec("dashboard", command, env)


def listening_host(host: str) -> str:
    """Where to reach a server bound to `host` from this machine (a wildcard: loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognised here, not bound
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def stack_ports(settings: Settings, telegram: bool) -> list[tuple[str, str, int]]:
    """(process, host, port) of every port `neetbot run` listens on; the webhook's only when
    the Telegram connector starts in webhook mode."""
    ports = [
        ("rasa", settings.rasa_host, settings.rasa_port),
        ("actions", "127.0.0.1", settings.actions_port),
        ("dashboard", settings.dashboard_host, settings.dashboard_port),
    ]
    if telegram and settings.telegram_mode == "webhook":
        ports.append(("telegram", settings.telegram_webhook_listen, settings.telegram_webhook_port))
    return ports


@dataclass
class Service:
    """A process to supervise, and how to tell it is ready.

    `health` is a URL that answers 200 once the process serves; without one, a process is
    ready when it still runs after `running_for` seconds. `listens` is the (host, port) it
    binds, checked free before it starts."""

    spec: ProcessSpec
    health: str | None = None
    ready_within: float = 60.0
    listens: tuple[str, int] | None = None
    log: Path | None = None
    running_for: float = 2.0


def backend_services(settings: Settings, model: Path, logs: Path) -> list[Service]:
    """The action server and the Rasa server (logs in `logs/`), in that order."""
    actions = Service(
        action_server(settings),
        f"http://127.0.0.1:{settings.actions_port}/health",
        ready_within=60,
        listens=("127.0.0.1", settings.actions_port),
        log=logs / "actions.log",
    )
    rasa = Service(
        rasa_server(settings, model),
        f"http://{listening_host(settings.rasa_host)}:{settings.rasa_port}/",
        ready_within=300,  # loading the model takes minutes on a busy 2-core host
        listens=(settings.rasa_host, settings.rasa_port),
        log=logs / "rasa.log",
    )
    return [actions, rasa]


def dashboard_service(settings: Settings, logs: Path) -> Service:
    """The dashboard, ready once its /health answers."""
    host, port = listening_host(settings.dashboard_host), settings.dashboard_port
    return Service(
        dashboard(settings),
        f"http://{host}:{port}/health",
        ready_within=60,
        listens=(settings.dashboard_host, port),
        log=logs / "dashboard.log",
    )


def telegram_service(settings: Settings) -> Service:
    """The Telegram connector (its output on the terminal, as before): in webhook mode ready
    once the webhook's /healthz answers; polling serves nothing, so running is enough."""
    spec = telegram_connector(settings)
    if settings.telegram_mode != "webhook":
        return Service(spec)
    host, port = settings.telegram_webhook_listen, settings.telegram_webhook_port
    return Service(
        spec, f"http://{listening_host(host)}:{port}/healthz", ready_within=60, listens=(host, port)
    )


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once in the parent (the child, between fork and exec, should
    only call it), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> Callable[[], None] | None:
    """What the child runs before exec so that it gets SIGTERM when we die, even by SIGKILL
    (no `finally` of ours runs then): Linux's parent-death signal.

    The kernel sends it when the *thread* that started the child ends, so only children
    started from the main thread (which ends with the process) get it: a child started from a
    worker thread (the studio's sandbox, `make chat`'s start) would otherwise be killed when
    that thread is retired. Those are stopped by whoever started them, as before."""
    prctl = _prctl()
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def set_signal() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl: nobody would tell
            os.kill(os.getpid(), sigterm)

    return set_signal


def start(spec: ProcessSpec, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own process group (so stopping it stops its children too); on
    Linux it also gets SIGTERM when this process dies (see `_die_with_parent`)."""
    with contextlib.ExitStack() as files:
        output = files.enter_context(log_file.open("ab")) if log_file else None
        return subprocess.Popen(
            spec.command,
            cwd=spec.cwd,
            env=spec.env or None,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # only prctl, looked up beforehand: fork-safe
        )


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def stop_all(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Stop process groups together: SIGTERM to all, then SIGKILL to those still running
    after `timeout` seconds. Returns within about `timeout` + 5 seconds."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
    stubborn = [process for process in running if process.poll() is None]
    for process in stubborn:
        logger.warning("Process %d did not stop within %.0f s: killing it", process.pid, timeout)
        _signal_group(process, signal.SIGKILL)
    for process in stubborn:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:  # stuck in the kernel; nothing more we can do
            logger.error("Process %d survived SIGKILL", process.pid)


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process group: SIGTERM, then SIGKILL after `timeout` seconds."""
    stop_all([process], timeout)


class StartError(RuntimeError):
    """A process did not start; the message says which and why."""


class PortInUse(StartError):
    """A port we must listen on is taken (often by a process an earlier run left behind)."""


def port_in_use(host: str, port: int) -> bool:
    """Whether binding `host`:`port` fails because it is taken, as our servers bind it
    (SO_REUSEADDR: connections closing on it do not count, a listener does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE  # another error is the server's to report
    return False


def _listening_sockets(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on `port` (any address), from /proc/net."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def port_holders(port: int) -> list[int]:
    """Pids of the processes listening on `port`, among those this user may inspect
    (/proc/<pid>/fd of another user's process is closed to us); empty if none is found."""
    sockets = {f"socket:[{inode}]" for inode in _listening_sockets(port)}
    holders: list[int] = []
    if not sockets:
        return holders
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in sockets for fd in (entry / "fd").iterdir()):
                holders.append(int(entry.name))
        except OSError:  # not ours to read, or ended meanwhile
            continue
    return sorted(holders)


_SECRET_OPTION = ("token", "password", "secret", "key")


def describe_command(parts: Sequence[str], limit: int = 160) -> str:
    """A command line to show a person: values of options naming a secret are hidden (a Rasa
    left over from before the launcher has its token there)."""
    shown: list[str] = []
    hide_next = False
    for part in parts:
        option, equals, _ = part.partition("=")
        secret = part.startswith("-") and any(word in option.lower() for word in _SECRET_OPTION)
        if hide_next:
            shown.append("***")
        elif secret and equals:
            shown.append(f"{option}=***")
        else:
            shown.append(part)
        hide_next = secret and not equals
    text = " ".join(" ".join(shown).split())  # a `python -c` script on one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_pid(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    return (
        f"pid {pid}: {describe_command(raw.decode(errors='replace').rstrip(chr(0)).split(chr(0)))}"
    )


def check_ports(ports: Sequence[tuple[str, str, int]]) -> None:
    """Raise PortInUse naming each (process, host, port) already taken, and who holds it."""
    problems: list[str] = []
    for name, host, port in ports:
        if not port_in_use(host, port):
            continue
        holders = port_holders(port)
        held = (
            "; ".join(map(_describe_pid, holders))
            if holders
            else "a process this user cannot see (another user's, or another container's)"
        )
        problems.append(f"port {port} ({name}, on {host or '*'}) is in use by {held}")
    if problems:
        raise PortInUse(
            "Cannot start: "
            + "; ".join(problems)
            + ". Stop it first (an earlier `neetbot run` may have left it behind), or choose "
            "another port in the settings."
        )


@dataclass
class Child:
    """A process the supervisor started."""

    name: str
    process: subprocess.Popen[bytes]


class Supervisor:
    """Starts processes, tells when every one is ready, watches them, and stops them all
    together. A context manager: leaving it stops everything it started."""

    def __init__(self, stop_timeout: float = 10.0) -> None:
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, *services: Service) -> None:
        """Start `services` (their ports checked free first, else nothing starts) and return
        once every one is ready; raise StartError otherwise (what started keeps running until
        `stop`)."""
        check_ports([(s.spec.name, *s.listens) for s in services if s.listens is not None])
        started = []
        for service in services:
            if service.log is not None:
                service.log.parent.mkdir(parents=True, exist_ok=True)
            process = start(service.spec, service.log)
            self.children.append(Child(service.spec.name, process))
            started.append((service, process))
        for service, process in started:
            self._wait_ready(service, process)

    @staticmethod
    def _wait_ready(service: Service, process: subprocess.Popen[bytes]) -> None:
        name = service.spec.name
        see = f"; its log: {service.log}" if service.log is not None else ""
        try:
            if service.health is not None:
                wait_for_http(service.health, service.ready_within, process)
                return
            code = process.wait(service.running_for)
        except subprocess.TimeoutExpired:
            return  # still running: that is all a process without a health check can say
        except (RuntimeError, TimeoutError) as error:
            raise StartError(f"{name} did not start: {error}{see}") from None
        raise StartError(f"{name} did not start: it exited with code {code}{see}")

    def exited(self) -> Child | None:
        """The first process that has ended, if any."""
        return next((child for child in self.children if child.process.poll() is not None), None)

    def watch(self, tick: Callable[[], object] | None = None, interval: float = 1.0) -> Child:
        """Wait until a process ends and return it, calling `tick` every `interval` seconds
        meanwhile."""
        while (child := self.exited()) is None:
            if tick is not None:
                tick()
            time.sleep(interval)
        return child

    def stop(self) -> None:
        """Stop every process started, all at once, within `stop_timeout` (+ a SIGKILL)."""
        stop_all([child.process for child in reversed(self.children)], self.stop_timeout)


def start_backend(settings: Settings, model: Path, logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start the action server and the Rasa server (logs in `logs/`) and wait until both
    answer; returns [actions, rasa]. If either fails to start (or its port is taken), both
    are stopped and StartError says why."""
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor()
    try:
        supervisor.start(*backend_services(settings, model, logs))
    except BaseException:
        supervisor.stop()
        raise
    return [child.process for child in supervisor.children]


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Wait until `condition()` is true; fail early if `process` exits. A condition met while
    `process` has exited (another process answering on its port) is a failure too."""
    deadline = time.monotonic() + timeout
    while True:
        met = bool(condition())
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{what}: the process exited with code {process.returncode} while starting "
                "(see its log)"
            )
        if met:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(0.5)


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers 200; fail early if `process` exits."""

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, url, timeout, process)


# --- local state: owner-only files, logs rotated and kept no longer than the retention ------


def secure_state(var_dir: Path) -> int:
    """Make `var_dir` and everything in it readable by its owner only (databases, secrets,
    logs of young people's conversations); returns how many modes changed. New files are
    owner-only anyway (`neetbot` sets the umask to 077); this mends an older installation."""
    changed = 0
    if not var_dir.exists():
        return 0
    for path in [var_dir, *var_dir.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        wanted = mode & 0o700
        if mode != wanted:
            path.chmod(wanted)
            changed += 1
    return changed


def rotate_logs(folder: Path, keep_days: int, today: dt.date | None = None) -> None:
    """Copy each non-empty `*.log` to `*.log.<date>` and empty it (the processes keep writing
    to the same file, opened for appending), then delete rotated logs older than `keep_days`:
    logs are kept no longer than people's data (PRIVACY_INACTIVE_DAYS)."""
    if not folder.is_dir():
        return
    today = today or dt.date.today()
    for log in folder.glob("*.log"):
        if log.stat().st_size == 0:
            continue
        rotated = log.with_name(f"{log.name}.{today.isoformat()}")
        with log.open("rb+") as source, rotated.open("ab") as target:
            shutil.copyfileobj(source, target)
            source.truncate(0)
        rotated.chmod(0o600)
    cutoff = today - dt.timedelta(days=keep_days)
    for old in folder.glob("*.log.*"):
        stamp = old.name.rsplit(".", 1)[-1]
        try:
            day = dt.date.fromisoformat(stamp)
        except ValueError:
            continue
        if day < cutoff:
            old.unlink()
