"""Unit tests of the dashboard (dashboard/)."""
