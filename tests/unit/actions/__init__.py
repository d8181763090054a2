"""Unit tests of the rasa-sdk actions (actions/)."""
