"""Unit tests of the adapters (connectors/)."""
