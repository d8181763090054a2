"""A second Rasa server for a model that is not live yet: the studio evaluates it there and
admins try it in a chat box, while the live server keeps serving the young people."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
from pathlib import Path

from bot.settings import Settings
from connectors import processes

logger = logging.getLogger(__name__)
SANDBOX_SENDER = "console-studio-"  # "console-" keeps the actions from treating it as Telegram


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """At most one candidate model served on a free local port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.model: Path | None = None
        self.url = ""

    def start(self, model: Path) -> str:
        """Serve `model` (stopping any earlier one); returns the base URL once it answers."""
        with self._lock:
            self._stop()
            settings = self.sandbox_settings(_free_port())
            var = settings.var_dir
            var.mkdir(parents=True, exist_ok=True, mode=0o700)
            spec = processes.rasa_server(settings, model)
            self._process = processes.start(spec, var / "rasa-sandbox.log")
            self.url = settings.rasa_url
            try:
                processes.wait_for_http(f"{self.url}/", 300, self._process)
            except BaseException:
                self._stop()
                raise
            self.model = model
            logger.info("Sandbox serving %s", model.name)
            return self.url

    def sandbox_settings(self, port: int) -> Settings:
        """The sandbox server's settings: its own port, and a tracker store and locks of its
        own (a SQLite file in var/sandbox): admins' test chats never reach the production
        tracker store, so coaches and the figures never see them."""
        return self.settings.model_copy(
            update={
                "rasa_port": port, "var_dir": self.settings.var_dir / "sandbox",
                "tracker_store": "", "lock_store_url": "",
            }
        )  # fmt: skip

    def serving(self, model: str | Path) -> bool:
        """Whether the sandbox serves `model` now."""
        running = self._process is not None and self._process.poll() is None
        return running and self.model is not None and str(self.model) == str(model)

    def _stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
        self._process, self.model, self.url = None, None, ""

    def stop(self) -> None:
        """Stop serving (on shutdown, or when the model went live)."""
        with self._lock:
            self._stop()
