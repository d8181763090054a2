"""`python -m connectors.telegram`: run the Telegram connector."""

from __future__ import annotations

import sys

from bot.logging_setup import configure_logging
from bot.settings import get_settings, secrets_of


def main() -> int:
    """Start the connector; exit 2 when no bot token is configured."""
    settings = get_settings()
    configure_logging(settings.log_level, secrets_of(settings))
    if settings.telegram_bot_token is None:
        print(
            "TELEGRAM_BOT_TOKEN is not set, so the Telegram connector cannot start.\n"
            "Get a token from @BotFather and put it in .env (see .env.example). "
            "Everything else runs without it; `make chat` talks to the assistant in the terminal.",
            file=sys.stderr,
        )
        return 2
    from connectors.telegram.app import run

    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
