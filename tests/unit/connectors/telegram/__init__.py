"""Unit tests of the Telegram connector (connectors/telegram/)."""
