"""The process root: the `neetbot` command, which wires the core, the adapters and the
dashboard together and starts the stack (docs/architecture.md)."""
