"""Admin pages: coach and admin accounts (more admin tools build on this)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.services import audit
from bot.services.users import (
    ROLES,
    UserError,
    accounts,
    create_user,
    set_disabled,
    set_display_name,
    set_password,
    set_role,
)
from dashboard.i18n import N_, _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")
# What each change of an account says when it is done
UPDATED = {
    "disable": N_("Disable: '%(username)s' updated."),
    "enable": N_("Enable: '%(username)s' updated."),
    "role": N_("Role: '%(username)s' updated."),
    "password": N_("Password: '%(username)s' updated."),
    "display-name": N_("Display name: '%(username)s' updated."),
}


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """Every account, a form to add one, and what an admin can change on each."""
    return render(request, "users.html", user, users=accounts(session), roles=ROLES)


@router.post("/users", dependencies=ADMIN_FORM)
def add_user(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Create an account (the password is stored as an argon2 hash)."""
    try:
        created = create_user(session, username, role, password, display_name or None)
    except UserError as error:
        flash(request, say(error), "error")
    else:
        audit.record(
            session, user.id, user.username, "account.create", created.username,
            None, {"role": created.role, "display_name": created.display_name},
        )  # fmt: skip
        if created.role == "admin":
            flash(request, _("Created admin '%(username)s'.", username=created.username))
        else:
            flash(request, _("Created coach '%(username)s'.", username=created.username))
    return back("/admin/users")


@router.post("/users/{username}/{change}", dependencies=ADMIN_FORM)
def change_user(
    request: Request,
    username: str,
    change: str,
    value: Annotated[str, Form(max_length=200)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Disable, enable, change the role, reset the password or the display name; audited."""
    before = {item.username: item for item in accounts(session)}.get(username)
    try:
        if change == "disable":
            after = set_disabled(session, username, True)
        elif change == "enable":
            after = set_disabled(session, username, False)
        elif change == "role":
            after = set_role(session, username, value)
        elif change == "password":
            after = set_password(session, username, value)
        elif change == "display-name":
            after = set_display_name(session, username, value)
        else:
            raise UserError("There is no such change.")
    except UserError as error:
        flash(request, say(error), "error")
        return back("/admin/users")
    shown = {"role", "disabled", "display_name"}
    audit.record(
        session, user.id, user.username, f"account.{change}", after.username,
        {k: v for k, v in vars(before).items() if k in shown} if before else None,
        {k: v for k, v in vars(after).items() if k in shown},
    )  # fmt: skip
    flash(request, _(UPDATED[change], username=after.username))
    return back("/admin/users")
