"""The running Rasa server, as the stack starts it: its token is not on its command line, which
every local user can read (`ps`, /proc/<pid>/cmdline)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import Stack


def command_lines() -> dict[int, list[str]]:
    """Every process's command line this user can read."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            found[int(entry.name)] = raw.decode(errors="replace").split("\0")
    return found


def test_the_rasa_token_is_not_on_the_servers_command_line(stack: Stack) -> None:
    assert stack.settings.rasa_token is not None
    token = stack.settings.rasa_token.get_secret_value()
    port = str(stack.settings.rasa_port)
    rasa = [
        parts
        for parts in command_lines().values()
        if "--enable-api" in parts
        and "--port" in parts
        and parts[parts.index("--port") + 1] == port
    ]
    assert len(rasa) == 1, rasa  # the stack's own Rasa server, found by its port
    assert not any(token in part for part in rasa[0])
    assert "--auth-token" not in rasa[0]
