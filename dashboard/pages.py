"""Rendering pages: the templates, with what every page needs (user, CSRF token, messages)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from connectors.rasa.studio.jobs import STAGES
from dashboard import i18n
from dashboard.security import Viewer, csrf_token

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.add_extension("jinja2.ext.i18n")
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.lookup, i18n.lookup_plural, newstyle=True
)
TEMPLATES.env.filters["when"] = i18n.when
TEMPLATES.env.filters["day"] = i18n.day
TEMPLATES.env.filters["number"] = i18n.number
TEMPLATES.env.globals["say"] = i18n.say
TEMPLATES.env.filters["stage"] = lambda text: i18n.known(text or "", STAGES)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once, on the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def render(
    request: Request,
    template: str,
    user: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the page's context."""
    messages = request.session.pop("flash", [])
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": csrf_token(request),
            "messages": messages,
            "lang": i18n.current(),
            "dir": i18n.direction(i18n.current()),
            "js_texts": i18n.script_texts(),
            **context,
        },
        status_code=status_code,
    )


def back(url: str) -> RedirectResponse:
    """After a form: back to a page (303, so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


def csv_download(request: Request, content: str, filename: str) -> Response:
    """A CSV file to download. With `?for=spreadsheet`: separated by semicolons and marked
    UTF-8 (a byte order mark), as the spreadsheets of Italy, Croatia, Romania and much of Europe
    open a file by a double click; otherwise the plain comma-separated file tools read."""
    if request.query_params.get("for") == "spreadsheet":
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";").writerows(csv.reader(io.StringIO(content, newline="")))
        content = "\ufeff" + buffer.getvalue()
        filename = filename.removesuffix(".csv") + "-spreadsheet.csv"
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
