"""Unit tests of the fakes themselves (tests/fakes/)."""
