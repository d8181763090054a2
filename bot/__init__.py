"""The core every process shares: settings, database, services, the Rasa client and the CLI.

Nothing here knows Rasa's or Telegram's shapes: services take plain values and a session.
"""
