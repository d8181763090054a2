"""CSV cells that a spreadsheet will not run as formulas (CSV injection, OWASP's advice).

Every CSV the project writes passes its cells through `csv_cell` (or `neutralise`): a text
starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading single quote, which
spreadsheets read as "this is text". A text that already starts with quotes followed by such a
character gets one more quote too, so that `restore_cell` (used by the catalogue import) can take
exactly one off and give back what was written, whatever it was.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could take `text` for a formula (it starts with = + - @ tab CR)."""
    return text.startswith(FORMULA_START)


def _needs_quote(text: str) -> bool:
    return looks_like_formula(text.lstrip(QUOTE))


def neutralise(text: str) -> str:
    """`text` as safe to write in a CSV cell: quoted when a spreadsheet could run it."""
    return QUOTE + text if _needs_quote(text) else text


def csv_cell(value: object) -> object:
    """`value` as safe to write in a CSV cell; anything but text (a number, a flag) as it is."""
    return neutralise(value) if isinstance(value, str) else value


def csv_row(values: Iterable[object]) -> list[object]:
    """Every cell of a row through `csv_cell`."""
    return [csv_cell(value) for value in values]


def restore_cell(text: str) -> str:
    """Undo `csv_cell` on a cell read back: drop the one quote it added, nothing else."""
    if text.startswith(QUOTE) and _needs_quote(text):
        return text[1:]
    return text
