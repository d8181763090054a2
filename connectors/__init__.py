"""Channels between young people and the Rasa server: Telegram, and a terminal chat."""
