"""Custom actions for the Rasa server (rasa-sdk). Thin: each reads the tracker, calls a bot/
service, and returns events. rasa-sdk imports every module of this package."""

from bot.logging_setup import redact_everywhere
from bot.settings import get_settings, secrets_of

# rasa-sdk set up its own logging before importing us: its handlers redact our secrets too.
redact_everywhere(secrets_of(get_settings()))
