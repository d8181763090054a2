"""Unit tests of the Rasa adapter (connectors/rasa/)."""
