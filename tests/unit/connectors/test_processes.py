"""The supervisor behind `neetbot run` (connectors/processes.py), with small stand-ins
instead of Rasa: children die with their parent, stop together within a bounded time, count as ready
only once they answer their health check, a port already taken is named with its holder, and
`neetbot run` exits non-zero when a process fails. The Rasa token never reaches a command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.settings import ROOT, Settings
from connectors import processes
from connectors.processes import ProcessSpec, Service, Supervisor
from neetbot import cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

# An HTTP server answering 200 on one path, listening only after a delay.
SERVE = """
import http.server, sys, time
port, path, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(delay)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == path else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""
# Ignores SIGTERM (only SIGKILL stops it); touches argv[1] once it does.
STUBBORN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(120)
"""
# Stops on SIGTERM, touching argv[2] on the way out; touches argv[1] once it listens for it.
GRACEFUL = """
import pathlib, signal, sys, time
def bye(*_):
    pathlib.Path(sys.argv[2]).touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
pathlib.Path(sys.argv[1]).touch()
time.sleep(120)
"""
# `neetbot run` in miniature: starts one child with connectors.processes, says its pid, waits.
PARENT = """
import sys, time
from connectors import processes
spec = processes.ProcessSpec("child", [sys.executable, "-c", "import time; time.sleep(120)"])
child = processes.start(spec)
print(child.pid, flush=True)
time.sleep(120)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python(name: str, script: str, *args: object) -> ProcessSpec:
    return ProcessSpec(name, [sys.executable, "-c", script, *map(str, args)])


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, waiting for a parent to reap it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    running = Supervisor(stop_timeout=2)
    with running:
        yield running


@pytest.fixture
def holder() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A stand-in left over from an earlier run, holding a port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(port), "/", "0"])
    try:
        assert wait_for(lambda: _answers(f"http://127.0.0.1:{port}/"))
        yield process, port
    finally:
        process.kill()
        process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# 1a. Children die with their parent.


def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.kill()  # SIGKILL: no handler, no `finally` runs in the parent
        parent.wait()
        assert wait_for(lambda: not alive(child), timeout=10), "the child outlived its parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_children_keep_their_own_process_group(supervisor: Supervisor) -> None:
    supervisor.start(Service(python("sleeper", "import time; time.sleep(60)"), running_for=0.2))
    process = supervisor.children[0].process
    assert os.getpgid(process.pid) == process.pid != os.getpgid(0)


# 1b. Stopping: all in parallel, SIGTERM then SIGKILL, within a bounded time.


def test_stop_all_stops_every_process_in_parallel_within_the_timeout(tmp_path: Path) -> None:
    started = []
    for index in range(3):
        ready = tmp_path / f"stubborn-{index}"
        started.append(processes.start(python("stubborn", STUBBORN, ready)))
    ready, said_bye = tmp_path / "graceful", tmp_path / "graceful-bye"
    started.append(processes.start(python("graceful", GRACEFUL, ready, said_bye)))
    try:
        assert wait_for(lambda: len(list(tmp_path.iterdir())) == 4)
        began = time.monotonic()
        processes.stop_all(started, timeout=1.5)
        took = time.monotonic() - began
    finally:
        for process in started:
            process.kill()
            process.wait()
    assert took < 4.0, f"{took:.1f} s: stopped one after the other"  # 3 x 1.5 s in sequence
    assert [p.returncode for p in started[:3]] == [-signal.SIGKILL] * 3
    assert started[3].returncode == 0 and said_bye.exists()  # SIGTERM came first


# 1c. Ready only once every process answers its health check.


def test_start_returns_only_once_every_process_answers(supervisor: Supervisor) -> None:
    fast, slow = free_port(), free_port()
    began = time.monotonic()
    supervisor.start(
        Service(python("fast", SERVE, fast, "/health", 0), f"http://127.0.0.1:{fast}/health"),
        Service(python("slow", SERVE, slow, "/healthz", 2), f"http://127.0.0.1:{slow}/healthz"),
        Service(python("polling", "import time; time.sleep(60)"), running_for=0.5),
    )
    assert time.monotonic() - began >= 2
    assert _answers(f"http://127.0.0.1:{fast}/health")
    assert _answers(f"http://127.0.0.1:{slow}/healthz")
    assert [child.name for child in supervisor.children] == ["fast", "slow", "polling"]
    assert supervisor.exited() is None


def test_a_process_that_exits_while_starting_fails_the_start(supervisor: Supervisor) -> None:
    port = free_port()
    spec = python("actions", "import sys; sys.exit(3)")
    began = time.monotonic()
    with pytest.raises(processes.StartError, match=r"actions.*exit(ed)? .*code 3"):
        supervisor.start(Service(spec, f"http://127.0.0.1:{port}/health", ready_within=60))
    assert time.monotonic() - began < 10


def test_a_process_without_a_health_check_must_keep_running(supervisor: Supervisor) -> None:
    spec = python("telegram", "import sys, time; time.sleep(0.3); sys.exit(2)")
    with pytest.raises(processes.StartError, match=r"telegram.*code 2"):
        supervisor.start(Service(spec, running_for=2))


def test_a_process_that_never_answers_fails_the_start(supervisor: Supervisor) -> None:
    port = free_port()
    spec = python("dashboard", "import time; time.sleep(60)")
    with pytest.raises(processes.StartError, match="dashboard.*not ready"):
        supervisor.start(Service(spec, f"http://127.0.0.1:{port}/health", ready_within=1.5))


def test_an_answer_from_a_process_that_has_died_is_not_ready(holder) -> None:
    """An old server on the port answers; ours has exited: that is no start."""
    _, port = holder
    process = processes.start(python("rasa", "import sys; sys.exit(1)"))
    process.wait()
    with pytest.raises(RuntimeError, match="code 1"):
        processes.wait_for_http(f"http://127.0.0.1:{port}/", 10, process)


# 1d. The supervisor reports the process that died.


def test_watch_returns_the_process_that_died(supervisor: Supervisor) -> None:
    supervisor.start(
        Service(python("dashboard", "import time; time.sleep(60)"), running_for=0.2),
        Service(python("rasa", "import sys, time; time.sleep(1); sys.exit(4)"), running_for=0.2),
    )
    ticks: list[float] = []
    died = supervisor.watch(tick=lambda: ticks.append(time.monotonic()), interval=0.1)
    assert (died.name, died.process.returncode) == ("rasa", 4)
    assert ticks  # the purge gets its turn while everything runs


# 1e. A port already taken: which one, and who holds it; nothing is started.


def test_a_port_in_use_is_named_with_the_process_holding_it(holder) -> None:
    process, port = holder
    assert processes.port_holders(port) == [process.pid]
    with pytest.raises(processes.PortInUse) as raised:
        processes.check_ports([("dashboard", "127.0.0.1", port), ("rasa", "127.0.0.1", 0)])
    message = str(raised.value)
    assert f"{port}" in message and "dashboard" in message
    assert f"pid {process.pid}" in message and "http.server" in message
    assert "rasa" not in message


def test_the_supervisor_starts_nothing_on_a_port_in_use(
    supervisor: Supervisor, holder, tmp_path: Path
) -> None:
    _, port = holder
    marker = tmp_path / "started"
    spec = python("actions", "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()", marker)
    with pytest.raises(processes.PortInUse, match=str(port)):
        supervisor.start(Service(spec, running_for=0.2, listens=("127.0.0.1", port)))
    time.sleep(1)
    assert not marker.exists() and not supervisor.children


def test_the_holder_of_a_command_line_secret_is_shown_redacted() -> None:
    described = processes.describe_command(
        ["rasa", "run", "--auth-token", "hunter2", "--port", "5005", "--password=pw"]
    )
    assert "hunter2" not in described and "pw" not in described.replace("--password", "")
    assert "--port 5005" in described


# `neetbot run` itself, with stand-ins for the four processes.


@pytest.fixture
def quick_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """`neetbot run` without a database to prepare or a model to train; returns the steps."""
    steps: list[str] = []
    monkeypatch.setattr(cli, "prepare_database", lambda *args, **kwargs: steps.append("db"))

    def model(settings: Settings) -> Path:
        steps.append("model")
        return tmp_path / "model.tar.gz"

    monkeypatch.setattr(cli, "_model_to_serve", model)
    monkeypatch.setattr(processes, "stack_ports", lambda settings, telegram: [])
    dashboard_port = free_port()
    dashboard = python("dashboard", SERVE, dashboard_port, "/health", 0)
    monkeypatch.setattr(
        processes,
        "dashboard_service",
        lambda settings, logs: Service(dashboard, f"http://127.0.0.1:{dashboard_port}/health"),
    )
    return steps


def test_run_exits_non_zero_when_a_process_dies(
    monkeypatch: pytest.MonkeyPatch, quick_run: list[str]
) -> None:
    actions = python("actions", "import time; time.sleep(60)")
    rasa = python("rasa", "import sys, time; time.sleep(3); sys.exit(1)")
    monkeypatch.setattr(
        processes,
        "backend_services",
        lambda settings, model, logs: [
            Service(actions, running_for=0.5),
            Service(rasa, running_for=0.5),
        ],
    )
    result = CliRunner().invoke(cli.app, ["run", "--no-telegram"])
    assert "Ready" in result.output
    assert "rasa stopped (exit code 1)" in result.output
    assert result.exit_code == 1, result.output


def test_run_exits_non_zero_when_a_process_fails_to_start(
    monkeypatch: pytest.MonkeyPatch, quick_run: list[str]
) -> None:
    port = free_port()
    actions = python("actions", "import sys; sys.exit(1)")
    monkeypatch.setattr(
        processes,
        "backend_services",
        lambda settings, model, logs: [Service(actions, f"http://127.0.0.1:{port}/health")],
    )
    result = CliRunner().invoke(cli.app, ["run", "--no-telegram"])
    assert "Ready" not in result.output
    assert "actions" in result.output and "code 1" in result.output
    assert result.exit_code == 1, result.output


def test_run_refuses_a_port_in_use_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, quick_run: list[str], holder
) -> None:
    process, port = holder
    monkeypatch.setattr(
        processes, "stack_ports", lambda settings, telegram: [("actions", "127.0.0.1", port)]
    )
    result = CliRunner().invoke(cli.app, ["run", "--no-telegram"])
    assert result.exit_code == 1, result.output
    assert f"{port}" in result.output and f"pid {process.pid}" in result.output
    assert "model" not in quick_run  # no training before the ports are known to be free
    assert "Ready" not in result.output


def test_the_stack_ports_cover_every_listening_process(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=5105,
        actions_port=5155,
        dashboard_port=8100,
        telegram_mode="webhook",
        telegram_webhook_port=8543,
        telegram_bot_token=SecretStr("123:abc"),
    )
    assert {port for _, _, port in processes.stack_ports(settings, telegram=True)} == {
        5105,
        5155,
        8100,
        8543,
    }
    assert 8543 not in {port for _, _, port in processes.stack_ports(settings, telegram=False)}
    polling = settings.model_copy(update={"telegram_mode": "polling"})
    assert processes.telegram_service(polling).health is None
    assert processes.telegram_service(settings).health == "http://127.0.0.1:8543/healthz"


# 2. The Rasa token stays off the command line.


LAUNCHER = ROOT / "rasa_project" / "neetbot_launch.py"


def launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("neetbot_launch", LAUNCHER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rasa_command_line_holds_no_token(tmp_path: Path) -> None:
    token = "s3cret-rasa-token-0123456789abcdefgh"
    settings = Settings(_env_file=None, var_dir=tmp_path, rasa_token=SecretStr(token))
    spec = processes.rasa_server(settings, tmp_path / "model.tar.gz")
    assert not any(token in part for part in spec.command)
    assert "--auth-token" not in spec.command and "--enable-api" in spec.command
    assert spec.command[1] == str(LAUNCHER)
    assert spec.env[launcher().TOKEN_VARIABLE] == token


def test_the_launcher_hands_rasa_the_token_from_the_environment() -> None:
    module = launcher()
    environ = {module.TOKEN_VARIABLE: "t0ken", "OTHER": "x"}
    assert module.arguments(["run", "--enable-api", "--port", "5005"], environ) == [
        "run", "--enable-api", "--port", "5005", "--jwt-secret", "t0ken", "--jwt-method", "HS256",
    ]  # fmt: skip
    assert environ == {"OTHER": "x"}  # Rasa's own children do not inherit it
    with pytest.raises(SystemExit, match="environment"):
        module.arguments(["run", "--auth-token", "visible"], {module.TOKEN_VARIABLE: "t"})
    with pytest.raises(SystemExit, match="without a token"):
        module.arguments(["run", "--enable-api"], {})
    assert module.arguments(["data", "validate"], {}) == ["data", "validate"]


def test_the_launched_process_shows_no_token_in_proc_cmdline(tmp_path: Path) -> None:
    """The launcher, run with a stand-in `rasa` package that records its argv and waits."""
    fake = tmp_path / "rasa"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    seen = tmp_path / "argv"
    (fake / "__main__.py").write_text(
        "import os, pathlib, sys, time\n"
        "def main():\n"
        "    threads = os.environ.get('OMP_NUM_THREADS', '')\n"
        f"    pathlib.Path({str(seen)!r}).write_text(chr(0).join([threads, *sys.argv]))\n"
        "    time.sleep(60)\n"
    )
    module = launcher()
    token = "s3cret-rasa-token-0123456789"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), module.TOKEN_VARIABLE: token}
    env.pop("OMP_NUM_THREADS", None)
    command = [sys.executable, str(LAUNCHER), "run", "--enable-api", "--port", "5005"]
    process = subprocess.Popen(command, env=env)
    try:
        assert wait_for(seen.exists)
        threads, _, *argv = seen.read_text().split("\0")
        assert argv == [
            "run", "--enable-api", "--port", "5005", "--jwt-secret", token, "--jwt-method", "HS256",
        ]  # fmt: skip
        assert threads == "1"  # the server's embeddings on one native thread (decision 28)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"5005" in cmdline and token.encode() not in cmdline
    finally:
        process.kill()
        process.wait()


def test_only_the_server_runs_on_one_native_thread_unless_told_otherwise() -> None:
    module = launcher()
    environ: dict[str, str] = {}
    module.serving_threads(environ)
    assert environ == {"OMP_NUM_THREADS": "1"}
    chosen = {"OMP_NUM_THREADS": "2"}  # an operator's choice stands
    module.serving_threads(chosen)
    assert chosen == {"OMP_NUM_THREADS": "2"}


def test_rasas_database_errors_hide_their_parameters() -> None:
    """The launcher makes every engine Rasa creates hide a failing statement's parameters."""
    import sqlalchemy

    original = sqlalchemy.create_engine
    try:
        launcher().hide_query_parameters()
        engine = sqlalchemy.create_engine("sqlite://")
        assert engine.hide_parameters is True
        with engine.connect() as connection, pytest.raises(sqlalchemy.exc.DBAPIError) as error:
            connection.execute(sqlalchemy.text("INSERT INTO nowhere VALUES (:t)"), {"t": "my name"})
        assert "my name" not in str(error.value)
    finally:
        sqlalchemy.create_engine = original
