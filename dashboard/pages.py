"""Rendering pages: the templates, with what every page needs (user, CSRF token, messages)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dashboard.security import Viewer, csrf_token

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.strftime("%Y-%m-%d %H:%M")


TEMPLATES.env.filters["when"] = _when


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
        {"user": user, "csrf": csrf_token(request), "messages": messages, **context},
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
