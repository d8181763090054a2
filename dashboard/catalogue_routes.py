"""The catalogue in the studio: create, edit, unpublish; CSV import with a preview; export.
New and re-published opportunities are matched against subscriptions and alerts are queued
(the Telegram connector sends them)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.db.models import Opportunity
from bot.services import audit, catalogue_admin
from bot.services.alerts import queue_alerts
from bot.services.catalogue_admin import CatalogueError, Stale
from bot.services.catalogue_csv import COLUMNS, export_catalogue, import_catalogue
from bot.services.paging import page_count
from dashboard.deps import Sessions
from dashboard.i18n import _, ngettext, say
from dashboard.pages import back, csv_download, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin/catalogue")
MAX_UPLOAD = 20 * 1024 * 1024  # bytes


@router.get("", response_class=HTMLResponse)
def catalogue_page(
    request: Request,
    q: str = "",
    kind: str = "",
    page: int = 1,
    country: str = "",
    status: str = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Every opportunity (unpublished too), with search, filters, import and export."""
    items, total = catalogue_admin.listing(
        session, q[:100], kind, max(1, page), country=country[:2], status=status[:12]
    )
    return render(
        request, "studio_catalogue.html", user, items=items, total=total, q=q, kind=kind,
        page=max(1, page), pages=page_count(total, 50), country=country, status=status,
        countries=catalogue_admin.countries_in_use(session),
    )  # fmt: skip


@router.get("/export.csv")
def export(
    request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """The whole catalogue as CSV with the contract's columns."""
    return csv_download(request, export_catalogue(session), "catalogue.csv")


def _form_page(
    request: Request, user: Viewer, session: Session, item: Opportunity | None,
    values: dict[str, str], status_code: int = 200, error: str = "",
    fields: Mapping[str, Exception] | None = None,
) -> Response:  # fmt: skip
    """The opportunity's form; `fields` (field → what is wrong, in plain words) shows each
    problem at its field, and the top of the page says how many there are."""
    if fields:
        error = ngettext(
            "Not saved: %(num)d field to correct, marked below.",
            "Not saved: %(num)d fields to correct, marked below.",
            len(fields),
        )
    return render(
        request, "studio_opportunity.html", user, item=item, values=values,
        topics=catalogue_admin.topic_keys(session), columns=COLUMNS, error=error,
        fields={name: say(problem) for name, problem in (fields or {}).items()},
        status_code=status_code, version=catalogue_admin.version(item) if item is not None else "",
    )  # fmt: skip


@router.get("/new", response_class=HTMLResponse)
def new_page(
    request: Request, kind: str = "training", user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:  # fmt: skip
    """An empty form."""
    values = dict.fromkeys(COLUMNS, "")
    values.update(kind=kind if kind in ("training", "job") else "training", mode="in_person",
                  cost_eur="0", women_only="false", neet_only="false")  # fmt: skip
    return _form_page(request, user, session, None, values)


@router.post("/new", dependencies=ADMIN_FORM)
async def create(request: Request, sessions: Sessions, user: Viewer = Depends(admin)) -> Response:
    """Create and publish an opportunity; alerts are queued for matching subscribers."""
    values = catalogue_admin.form_values(await request.form())
    with sessions.begin() as session:
        try:
            item = catalogue_admin.create(session, values)
        except CatalogueError as error:
            return _form_page(request, user, session, None, values, 422, say(error), error.fields)
        queued = queue_alerts(session, [item.id])
        audit.record(session, user.id, user.username, "catalogue.create", item.title, None, values)
        item_id = item.id
    flash(
        request,
        # Translators: the English says "alert(s)" whatever the number.
        ngettext(
            "Published. %(num)d alert(s) queued for subscribers.",
            "Published. %(num)d alert(s) queued for subscribers.",
            queued,
        ),
    )
    return back(f"/admin/catalogue/{item_id}")


@router.get("/{item_id:int}", response_class=HTMLResponse)
def edit_page(
    item_id: int, request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """One opportunity's form."""
    item = catalogue_admin.get(session, item_id)
    if item is None:
        raise HTTPException(404, _("There is no such opportunity."))
    return _form_page(request, user, session, item, catalogue_admin.values_of(item))


@router.post("/{item_id:int}", dependencies=ADMIN_FORM)
async def save(
    item_id: int, request: Request, sessions: Sessions, user: Viewer = Depends(admin)
) -> Response:
    """Save an opportunity (refused if someone changed it since the form was opened)."""
    form = await request.form()
    values = catalogue_admin.form_values(form)
    with sessions.begin() as session:
        item = catalogue_admin.get(session, item_id)
        if item is None:
            raise HTTPException(404, _("There is no such opportunity."))
        before = catalogue_admin.values_of(item)
        try:
            catalogue_admin.update(session, item_id, values, str(form.get("version") or ""))
        except Stale as error:  # show what is stored now: theirs, not a blind overwrite
            current = catalogue_admin.values_of(item)
            return _form_page(request, user, session, item, current, 409, say(error))
        except CatalogueError as error:  # refused before anything changed
            return _form_page(request, user, session, item, values, 422, say(error), error.fields)
        audit.record(session, user.id, user.username, "catalogue.edit", item.title, before, values)
    flash(request, _("Saved."))
    return back(f"/admin/catalogue/{item_id}")


@router.post("/{item_id:int}/{action}", dependencies=ADMIN_FORM)
def publish(
    item_id: int, action: str, request: Request, user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:  # fmt: skip
    """Unpublish (hidden from search and alerts) or publish again (alerts queued)."""
    if action not in ("publish", "unpublish"):
        raise HTTPException(404, _("No such action."))
    try:
        item = catalogue_admin.set_published(session, item_id, action == "publish")
    except CatalogueError as error:
        raise HTTPException(404, say(error)) from None
    queued = queue_alerts(session, [item.id]) if action == "publish" else 0
    audit.record(session, user.id, user.username, f"catalogue.{action}", item.title)
    if action != "publish":
        flash(request, _("Unpublished: no longer shown or alerted."))
    elif queued:
        flash(
            request,
            # Translators: the English says "alert(s)" whatever the number.
            ngettext(
                "Published again. %(num)d alert(s) queued.",
                "Published again. %(num)d alert(s) queued.",
                queued,
            ),
        )
    else:
        flash(request, _("Published again."))
    return back(f"/admin/catalogue/{item_id}")


@router.post("/import", dependencies=ADMIN_FORM)
async def import_preview(
    request: Request,
    sessions: Sessions,
    file: UploadFile,
    user: Viewer = Depends(admin),
) -> Response:
    """Check an uploaded CSV and show what it would do; nothing is written yet."""
    content = await file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        flash(request, _("The file is larger than 20 MB: split it."), "error")
        return back("/admin/catalogue")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        flash(request, _("The file is not UTF-8 text: save it as UTF-8 CSV."), "error")
        return back("/admin/catalogue")
    token = ""
    with sessions.begin() as session:
        result = catalogue_admin.preview(session, text)
        if not result.errors:
            token = catalogue_admin.keep_preview(session, user.id, text)
    if token:
        request.session["import"] = token
    return render(
        request, "studio_import.html", user, preview=result, token=token,
        filename=file.filename or "upload.csv",
    )  # fmt: skip


@router.post("/import/confirm", dependencies=ADMIN_FORM)
async def import_confirm(
    request: Request, sessions: Sessions, user: Viewer = Depends(admin)
) -> Response:
    """Import the previewed file (all or nothing) and queue alerts for the new items."""
    form = await request.form()
    token = str(form.get("token") or "")
    with sessions.begin() as session:
        ours = token and token == request.session.get("import")
        text = catalogue_admin.kept_preview(session, user.id, token) if ours else None
        if text is None:
            flash(request, _("That preview has expired: upload the file again."), "error")
            return back("/admin/catalogue")
        report = import_catalogue(session, text)
        if not report.ok:  # the catalogue changed since the preview; nothing was written
            first = report.errors[0]
            if first.column:  # a column's name is the contract's: the same in every language
                why = _(
                    "Nothing imported: line %(line)d: %(column)s: %(reason)s",
                    line=first.line, column=first.column, reason=say(first.problem),
                )  # fmt: skip
            else:
                why = _(
                    "Nothing imported: line %(line)d: %(reason)s",
                    line=first.line, reason=say(first.problem),
                )  # fmt: skip
            flash(request, why, "error")
            return back("/admin/catalogue")
        catalogue_admin.drop_preview(session, token)
        queued = queue_alerts(session, report.created)
        audit.record(
            session, user.id, user.username, "catalogue.import", str(form.get("filename") or "csv"),
            None, {"created": len(report.created), "updated": len(report.updated)},
        )  # fmt: skip
    request.session.pop("import", None)
    flash(
        request,
        # Translators: the English says "alert(s)" whatever the number.
        ngettext(
            "Imported: %(created)d new, %(updated)d updated; "
            "%(num)d alert(s) queued for subscribers.",
            "Imported: %(created)d new, %(updated)d updated; "
            "%(num)d alert(s) queued for subscribers.",
            queued,
            created=len(report.created),
            updated=len(report.updated),
        ),
    )
    return back("/admin/catalogue")
