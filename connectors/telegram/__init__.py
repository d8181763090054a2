"""The Telegram connector, built on python-telegram-bot."""
