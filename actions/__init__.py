"""Custom actions for the Rasa server (rasa-sdk). Thin: each reads the tracker, calls a bot/
service, and returns events. rasa-sdk imports every module of this package."""
