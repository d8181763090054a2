"""Unit tests of the core (bot/)."""
