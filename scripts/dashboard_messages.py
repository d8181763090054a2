"""The dashboard's catalogues of translations: extract every marked text, update the ten
languages' `.po` files, and say what is missing (`make messages`, and the test that fails on a
text without a translation).

What is marked (dashboard/i18n.py says how to mark):
- the templates (`_()`, `ngettext()`, `{% trans %}`), through Jinja's Babel extractor;
- the dashboard's Python (`_`, `ngettext`, `N_`, and HTTPException's detail);
- the refusals of the services and the studio (`bot.refusal.Refusal` and every subclass of it,
  found by importing those modules, so that a new error class needs no list to be kept);
- the pages' scripts (`gettext("...")` in dashboard/static/*.js).

    python scripts/dashboard_messages.py update   # messages.pot and every .po brought up to date
    python scripts/dashboard_messages.py check    # what is untranslated, fuzzy or malformed
    python scripts/dashboard_messages.py bare     # texts of templates and routes not marked
    python scripts/dashboard_messages.py todo hr  # what Croatian lacks, as JSON
    python scripts/dashboard_messages.py fill hr hr.json   # {English: Croatian} into hr's .po
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "dashboard" / "locale"
TEMPLATE = LOCALE_DIR / "messages.pot"
# Where marked texts are: (directory, [(pattern, extraction method)]).
SOURCES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "dashboard",
        [
            ("**/templates/**.html", "jinja2.ext:babel_extract"),
            ("**/static/**.js", "javascript"),
            ("**.py", "python"),
        ],
    ),
    ("bot", [("**.py", "python")]),
    ("connectors/rasa/studio", [("**.py", "python")]),
]
# Packages whose modules define refusals (imported to find every subclass of Refusal).
REFUSING_PACKAGES = ("bot.services", "connectors.rasa.studio", "dashboard")
STAMP = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)  # fixed: `make messages` changes no header
PLACE = re.compile(r"%\((\w+)\)[sdif]")


def _refusal_classes() -> set[str]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bot.refusal import Refusal

    for package_name in REFUSING_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__, package_name + "."):
            importlib.import_module(module.name)
    found: set[str] = set()
    pending = [Refusal]
    while pending:
        cls = pending.pop()
        found.add(cls.__name__)
        pending += cls.__subclasses__()
    return found


def keywords() -> dict[str, object]:
    """The calls whose arguments are texts to translate."""
    marks: dict[str, object] = dict(DEFAULT_KEYWORDS)
    marks["N_"] = None
    marks["Words"] = None
    marks["HTTPException"] = (2,)  # HTTPException(403, "This page is for admins.")
    for name in _refusal_classes():
        marks[name] = None
    return marks


def _found() -> Iterator[tuple[str, int, str | tuple[str, ...], list[str]]]:
    marks = keywords()
    for directory, method_map in SOURCES:
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / directory,
            method_map,
            {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords=marks,  # type: ignore[arg-type]
            comment_tags=("Translators:",),
            strip_comment_tags=True,
        ):
            yield f"{directory}/{filename}", lineno, message, comments


def extract() -> Catalog:
    """Every marked text of the dashboard, with where it is."""
    catalog = Catalog(project="neetbot-dashboard", charset="utf-8", creation_date=STAMP)
    for filename, lineno, message, comments in _found():
        if (isinstance(message, str) and not message.strip()) or message == ("",):
            continue
        flags = ("python-format",) if any(PLACE.search(part) for part in _parts(message)) else ()
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, flags=flags)
    return catalog


def _parts(message: str | tuple[str, ...]) -> tuple[str, ...]:
    return (message,) if isinstance(message, str) else tuple(message)


def languages() -> list[str]:
    """The languages that get a catalogue: the ten but English, whose texts are the code's."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bot.settings import SUPPORTED_LANGUAGES

    return [code for code in SUPPORTED_LANGUAGES if code != "en"]


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"


def read(code: str) -> Catalog:
    path = po_path(code)
    if not path.exists():
        return Catalog(
            locale=code, project="neetbot-dashboard", charset="utf-8", creation_date=STAMP
        )
    with path.open("rb") as source:
        return read_po(source, locale=code)


def update() -> None:
    """messages.pot from the sources; each language's .po updated from it (new texts empty,
    texts gone removed, changed ones marked fuzzy for the translator)."""
    template = extract()
    LOCALE_DIR.mkdir(parents=True, exist_ok=True)
    with TEMPLATE.open("wb") as out:
        write_po(out, template, width=100, omit_header=False, sort_output=True)
    for code in languages():
        catalog = read(code)
        catalog.update(template, update_header_comment=False)
        po_path(code).parent.mkdir(parents=True, exist_ok=True)
        with po_path(code).open("wb") as out:
            write_po(out, catalog, width=100, ignore_obsolete=True, sort_output=True)


def _places(text: str) -> set[str]:
    return set(PLACE.findall(text))


def problems(template: Catalog | None = None) -> list[str]:
    """What a reader would see in English or broken: per language, a text with no translation
    (or only a fuzzy one), a translation whose %(places)s differ from the English, and plural
    forms left empty."""
    template = template or extract()
    found: list[str] = []
    for code in languages():
        catalog = read(code)
        for wanted in template:
            if not wanted.id:
                continue
            have: Message | None = catalog.get(wanted.id)
            label = wanted.id if isinstance(wanted.id, str) else wanted.id[0]
            where = ", ".join(f"{name}:{line}" for name, line in wanted.locations[:2])
            if have is None:
                found.append(f"{code}: no entry for {label!r} ({where}): run make messages")
                continue
            strings = have.string if isinstance(have.string, tuple) else (have.string,)
            if have.fuzzy or not all(strings):
                found.append(f"{code}: {label!r} is not translated ({where})")
                continue
            english = _places(" ".join(_parts(wanted.id))) - {"num"}
            source = " ".join(_parts(wanted.id))
            for text in strings:
                # A translation is trusted markup (values are escaped, it is not): a character
                # the English lacks could end an attribute (aria-label="…") or open a tag.
                added = [mark for mark in '"<>&' if text.count(mark) > source.count(mark)]
                if added:
                    found.append(
                        f"{code}: {label!r}: the translation adds {' '.join(added)}, which the"
                        " English has not (in a page it could end an attribute or open a tag:"
                        " write “ ” or « » for quotes)"
                    )
                if _places(text) - {"num"} != english:
                    found.append(
                        f"{code}: {label!r}: the translation's places {sorted(_places(text))}"
                        f" differ from the English {sorted(english)}"
                    )
    return found


# Words the same in every language: they may stand outside a translated text.
SAME_EVERYWHERE = {"CSV", "KPI", "Telegram", "URL", "QR", "JSON", "UTC", "ID", "OK", "NEET", "Rasa"}
TRANSLATED_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt", "aria-description"}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def _untranslated(text: str) -> str | None:
    words = re.findall(r"[^\W\d_]+", _JINJA.sub(" ", text))
    left = [word for word in words if word not in SAME_EVERYWHERE]
    return " ".join(left) if left else None


class _BareTexts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._inside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._inside.append(tag)
        kinds = dict(attrs)
        for name, value in attrs:
            shown = name in TRANSLATED_ATTRIBUTES or (
                name == "value" and tag == "input" and kinds.get("type") in ("submit", "button")
            )
            bare = _untranslated(value or "") if shown else None
            if bare:
                self.found.append((self.getpos()[0], f'{name}="{value}"'))

    def handle_endtag(self, tag: str) -> None:
        if self._inside and self._inside[-1] == tag:
            self._inside.pop()

    def handle_data(self, data: str) -> None:
        if not self._inside and _untranslated(data):
            self.found.append((self.getpos()[0], data.strip()))


def bare_texts(template: Path) -> list[tuple[int, str]]:
    """Texts of a template that a reader would see untranslated: words outside `{{ ... }}` and
    `{% ... %}` in the page or in a shown attribute (aria-label, title, placeholder, alt, a
    button's value). `{% trans %}` blocks count as translated. (line, text)"""
    source = _JINJA_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), template.read_text())
    source = re.sub(
        r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}",
        lambda m: "\n" * m.group().count("\n"),
        source,
        flags=re.S,
    )
    # Jinja in an attribute or the text is replaced by a space, keeping the lines.
    source = _JINJA.sub(lambda m: " " + "\n" * m.group().count("\n"), source)
    parser = _BareTexts()
    parser.feed(source)
    parser.close()
    return parser.found


TRANSLATING_CALLS = {"_", "gettext", "ngettext", "say", "N_"}


def bare_python_texts(module: Path) -> list[tuple[int, str]]:
    """Texts of the dashboard's Python shown to a reader without translation: a literal string
    (or f-string) given to flash() or as an HTTPException's detail. (line, call)"""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(module.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        position = {"flash": 1, "HTTPException": 1}.get(name)
        if position is None:
            continue
        args = list(node.args)
        detail = next((k.value for k in node.keywords if k.arg in ("message", "detail")), None)
        shown = args[position] if len(args) > position else detail
        if isinstance(shown, (ast.Constant, ast.JoinedStr, ast.BinOp)) and not (
            isinstance(shown, ast.Constant) and not isinstance(shown.value, str)
        ):
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


def todo(code: str) -> list[dict[str, object]]:
    """What `code`'s catalogue still lacks, for a translator: each text (a plural as a list of
    singular and plural), where it is used, and the English of its neighbours in the page."""
    wanted = []
    catalog = read(code)
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            wanted.append(
                {
                    "id": message.id if isinstance(message.id, str) else list(message.id),
                    "where": [f"{name}:{line}" for name, line in message.locations[:3]],
                    "forms": 1 if isinstance(message.id, str) else catalog.num_plurals,
                }
            )
    return wanted


def fill(code: str, translations: dict[str, str | list[str]]) -> int:
    """Put translations into `code`'s catalogue: {English: translation}; a plural's key is its
    English singular and its value the list of the language's plural forms. Returns how many."""
    catalog = read(code)
    done = 0
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key not in translations:
            continue
        given = translations[key]
        if isinstance(message.id, str):
            if not isinstance(given, str):
                raise SystemExit(f"{key!r}: give one string")
            message.string = given
        else:
            forms = [given] if isinstance(given, str) else list(given)
            if len(forms) != catalog.num_plurals:
                raise SystemExit(f"{key!r}: give {catalog.num_plurals} plural forms for {code}")
            message.string = tuple(forms)
        message.flags.discard("fuzzy")
        done += 1
    with po_path(code).open("wb") as out:
        write_po(out, catalog, width=100, ignore_obsolete=True, sort_output=True)
    return done


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "todo":
        import json

        print(json.dumps(todo(argv[2]), ensure_ascii=False, indent=1))
        return 0
    if command == "fill":
        import json

        given = json.loads(Path(argv[3]).read_text(encoding="utf-8"))
        print(f"{fill(argv[2], given)} translation(s) put into {po_path(argv[2])}")
        return 0
    if command == "bare":
        bare = [
            f"{path.relative_to(ROOT)}:{line}: {text}"
            for path in sorted((ROOT / "dashboard" / "templates").glob("*.html"))
            for line, text in bare_texts(path)
        ] + [
            f"{path.relative_to(ROOT)}:{line}: {text}"
            for path in sorted((ROOT / "dashboard").glob("*.py"))
            for line, text in bare_python_texts(path)
        ]
        print("\n".join(bare))
        print(f"{len(bare)} text(s) not marked for translation")
        return 1 if bare else 0
    if command == "update":
        update()
        print(f"{TEMPLATE.relative_to(ROOT)} and {len(languages())} catalogues updated")
        return 0
    found = problems()
    for line in found[:200]:
        print(line)
    print(f"{len(found)} problem(s)" + (" (first 200 shown)" if len(found) > 200 else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
