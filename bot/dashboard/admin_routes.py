"""Admin pages: coach and admin accounts (more admin tools build on this)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.dashboard.pages import back, flash, render
from bot.dashboard.security import ADMIN_FORM, Viewer, admin, db
from bot.db.models import User
from bot.services.users import ROLES, UserError, create_user

router = APIRouter(prefix="/admin")


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """Every account, and a form to add one."""
    users = list(session.scalars(select(User).order_by(User.username)))
    return render(request, "users.html", user, users=users, roles=ROLES)


@router.post("/users", dependencies=ADMIN_FORM)
def add_user(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Create an account (the password is stored as an argon2 hash)."""
    try:
        created = create_user(session, username, role, password)
    except UserError as error:
        flash(request, str(error), "error")
    else:
        flash(request, f"Created {created.role} {created.username!r}.")
    return back("/admin/users")
