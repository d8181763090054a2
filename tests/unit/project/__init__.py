"""Unit tests of the repository as a whole: dependencies, deployment files, translations and
the measuring sets."""
