"""One whole bot (action server, Rasa, our connector in webhook mode) started from a given
source tree: this checkout, or an older commit checked out in a git worktree. `bench/versus.py`
runs one per tree, so old and new code are measured side by side in one run.

It imports the tree's own modules (settings, migrations, process specs, model training), so each
tree starts its processes the way its own `neetbot run` would. It uses only what every commit
since the benchmark's baseline has: keep it that way, or move the baseline.

Prints one JSON line once the action server and Rasa answer and the connector is started
({"pids": {...}, "rasa_url": ..., "webhook_port": ...}), then runs until its standard input
closes and stops everything.

    python bench/stack.py --root TREE --var DIR --api BASE_URL --token TOKEN --secret SECRET
        --catalogue CSV
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the source tree to run")
    parser.add_argument("--var", type=Path, required=True, help="a fresh directory for its data")
    parser.add_argument("--api", required=True, help="the fake Bot API's base URL")
    parser.add_argument("--token", required=True, help="the bot token the fake expects")
    parser.add_argument("--secret", required=True, help="the webhook's secret token")
    parser.add_argument("--catalogue", type=Path, required=True, help="the catalogue to load")
    args = parser.parse_args()

    root = str(args.root.resolve())
    sys.path.insert(0, root)  # the tree's modules, not this checkout's
    from pydantic import SecretStr

    from bot.services.setup import prepare_database
    from bot.settings import Settings
    from connectors import processes
    from connectors.rasa.training import ensure_model

    var = args.var.resolve()
    settings = Settings(
        _env_file=None, var_dir=var, database_url=f"sqlite:///{var / 'app.db'}",
        rasa_port=free_port(), actions_port=free_port(),
        rasa_token=SecretStr("bench-token-0123456789abcdefghijklmno"),
        secret_key=SecretStr("bench-key-0123456789abcdefghijklmnopq"),
    )  # fmt: skip
    prepare_database(settings.database_url, sample=args.catalogue)
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    model = ensure_model(settings)
    port = free_port()
    connector_env = {
        **processes.app_env(settings),
        "PYTHONPATH": root,
        "TELEGRAM_BOT_TOKEN": args.token,
        "TELEGRAM_API_BASE_URL": args.api,
        "TELEGRAM_RATE_LIMIT": "0",  # the fake has no limit to respect
        "LOG_LEVEL": "WARNING",
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "TELEGRAM_WEBHOOK_SECRET": args.secret,
        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "TELEGRAM_WEBHOOK_PORT": str(port),
    }
    started = []
    try:
        actions_spec = processes.action_server(settings)
        actions_spec.env["PYTHONPATH"] = root
        actions = processes.start(actions_spec, logs / "actions.log")
        started.append(actions)
        rasa = processes.start(processes.rasa_server(settings, model), logs / "rasa.log")
        started.append(rasa)
        processes.wait_for_http(f"http://127.0.0.1:{settings.actions_port}/health", 120, actions)
        processes.wait_for_http(f"{settings.rasa_url}/", 300, rasa)
        connector = processes.start(
            processes.ProcessSpec(
                "telegram", [sys.executable, "-m", "connectors.telegram"], connector_env, Path(root)
            ),
            logs / "telegram.log",
        )
        started.append(connector)
        pids = {"rasa": rasa.pid, "actions": actions.pid, "connector": connector.pid}
        print(
            json.dumps(
                {
                    "pids": pids,
                    "rasa_url": settings.rasa_url,
                    "webhook_port": port,
                    "model": model.name,
                    "logs": str(logs),
                }
            ),  # fmt: skip
            flush=True,
        )
        sys.stdin.read()  # until the benchmark is done with this tree
    finally:
        for process in reversed(started):
            processes.stop(process)


if __name__ == "__main__":
    main()
