"""`neetbot`: the project's command line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.db.session import session_factory
from bot.logging_setup import configure_logging
from bot.services import audit
from bot.services.alerts import queue_alerts
from bot.services.catalogue_csv import export_catalogue, import_catalogue
from bot.services.privacy import purge_inactive
from bot.services.setup import prepare_database
from bot.services.users import (
    MIN_PASSWORD,
    UserError,
    accounts,
    create_user,
    set_disabled,
    set_display_name,
    set_password,
    set_role,
)
from bot.settings import Settings, get_settings, secrets_of
from connectors.rasa.events import RasaEvents

app = typer.Typer(help="The NEET assistant's command line.", no_args_is_help=True)
catalogue = typer.Typer(help="Import and export the catalogue of trainings and jobs.")
app.add_typer(catalogue, name="catalogue")
privacy_app = typer.Typer(help="Data protection: erase the data of inactive people.")
app.add_typer(privacy_app, name="privacy")
users_app = typer.Typer(help="Coach and admin accounts of the dashboard.")
app.add_typer(users_app, name="users")
logger = logging.getLogger("neetbot")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more.")) -> None:
    # Every file neetbot and the processes it starts create (databases, logs, secrets) is
    # readable by its owner only.
    os.umask(0o077)
    settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level, secrets_of(settings))


@catalogue.command("import")
def catalogue_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A UTF-8 CSV file.")],
) -> None:
    """Import FILE.csv (all or nothing; every bad row is reported)."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        typer.echo(f"{file}: not UTF-8 text; save the file as UTF-8 CSV.", err=True)
        raise typer.Exit(1) from None
    with session_factory(settings.database_url).begin() as session:
        report = import_catalogue(session, content)
        queued = queue_alerts(session, report.created) if report.ok else 0
    if not report.ok:
        typer.echo(f"Nothing imported: {len(report.errors)} problem(s) in {file}:", err=True)
        for error in report.errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"Imported {file}: {len(report.created)} new, {len(report.updated)} updated; "
        f"{queued} alert(s) queued for subscribers."
    )


@catalogue.command("export")
def catalogue_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help='Where to write; "-" for stdout.')],
) -> None:
    """Export the whole catalogue to FILE.csv ("-" for standard output)."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    with session_factory(settings.database_url).begin() as session:
        content = export_catalogue(session)
    if str(file) == "-":
        sys.stdout.write(content)
        return
    file.write_text(content, encoding="utf-8")
    typer.echo(f"Exported {content.count(chr(10)) - 1} opportunities to {file}.")


def purge(days: int) -> dict[str, int]:
    """Erase people and conversations inactive for `days` days; returns the counts."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    with session_factory(settings.database_url).begin() as session:
        return purge_inactive(session, RasaEvents(settings.tracker_store_url), days)


@privacy_app.command("purge")
def privacy_purge(
    inactive_days: Annotated[
        int, typer.Option("--inactive-days", min=1, help="Erase after this many days of silence.")
    ],
) -> None:
    """Erase profiles, consent, alerts and conversations of people inactive for N days."""
    counts = purge(inactive_days)
    typer.echo(
        f"Erased {counts['people']} inactive people and {counts['events']} conversation events "
        f"(inactive for {inactive_days} days or more)."
    )


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option("--username", help="3–40 letters, digits, . _ -")],
    role: Annotated[str, typer.Option("--role", help="coach or admin")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help=f"At least {MIN_PASSWORD} characters (asked for if not given).",
        ),
    ],
    display_name: Annotated[
        str | None,
        typer.Option("--display-name", help="What young people see when this coach joins."),
    ] = None,
) -> None:
    """Create a coach or admin account (the password is stored as an argon2 hash)."""
    created = _account_change(
        "account.create", username,
        lambda session: create_user(session, username, role, password, display_name),
    )  # fmt: skip
    typer.echo(f"Created {created.role} {created.username!r}.")


def _account_change(action: str, username: str, change: Any) -> Any:
    """Make a change to an account and audit it (by "command line"); exit 1 with the reason
    when it cannot be made."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    try:
        with session_factory(settings.database_url).begin() as session:
            account = change(session)
            shown = {"role": account.role, "disabled": account.disabled,
                     "display_name": account.display_name}  # fmt: skip
            audit.record(session, None, "command line", action, account.username, None, shown)
            return account
    except UserError as error:
        typer.echo(f"Nothing changed: {error}", err=True)
        raise typer.Exit(1) from None


@users_app.command("list")
def users_list() -> None:
    """Every account: username, display name, role, whether it is disabled."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    with session_factory(settings.database_url).begin() as session:
        for account in accounts(session):
            state = "disabled" if account.disabled else "active"
            typer.echo(f"{account.username}\t{account.display_name}\t{account.role}\t{state}")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Disable an account: it cannot sign in, and its sessions end at once."""
    _account_change("account.disable", username, lambda s: set_disabled(s, username, True))
    typer.echo(f"Disabled {username!r}.")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Enable a disabled account again."""
    _account_change("account.enable", username, lambda s: set_disabled(s, username, False))
    typer.echo(f"Enabled {username!r}.")


@users_app.command("role")
def users_role(
    username: Annotated[str, typer.Argument(help="The account.")],
    role: Annotated[str, typer.Argument(help="coach or admin")],
) -> None:
    """Change an account's role (its sessions end: it signs in again)."""
    _account_change("account.role", username, lambda s: set_role(s, username, role))
    typer.echo(f"{username!r} is now {role}.")


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument(help="The account.")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help=f"At least {MIN_PASSWORD} characters (asked for if not given).",
        ),
    ],  # fmt: skip
) -> None:
    """Reset an account's password (its sessions end)."""
    _account_change("account.password", username, lambda s: set_password(s, username, password))
    typer.echo(f"New password set for {username!r}.")


@users_app.command("display-name")
def users_display_name(
    username: Annotated[str, typer.Argument(help="The account.")],
    name: Annotated[str, typer.Argument(help="What young people see when this coach joins.")],
) -> None:
    """Set the name young people see when this coach joins their chat."""
    _account_change("account.display-name", username, lambda s: set_display_name(s, username, name))
    typer.echo(f"{username!r} is shown as {name!r}.")


@app.command()
def setup() -> None:
    """Create or upgrade the database and load the sample catalogue if it is empty."""
    prepare_database(get_settings().database_url)
    typer.echo("Database ready.")


@app.command()
def train(
    force: bool = typer.Option(False, help="Train even if the cached model is current."),
) -> None:
    """Train the Rasa model if config, domain or data changed since the cached one."""
    from connectors.rasa.training import ensure_model

    model = ensure_model(get_settings(), force=force)
    typer.echo(f"Model: {model}")


@app.command()
def chat() -> None:
    """Chat with the assistant in the terminal (starts Rasa and the action server if needed)."""
    from connectors.console import run_console

    asyncio.run(run_console(get_settings()))


def _model_to_serve(settings: Settings) -> Path:
    """The model the studio put live, while the data is what it was trained on; else the
    model of the current data (trained now if needed), which becomes the live one."""
    from connectors.rasa.studio import jobs
    from connectors.rasa.training import ensure_model, model_hash, write_generated_data

    sessions = session_factory(settings.database_url)
    with sessions.begin() as session:
        live = jobs.live(session)
        live_path = Path(live.path) if live is not None else None
        live_fingerprint = live.fingerprint if live is not None else None
    write_generated_data(settings.rasa_project_dir)
    current = model_hash(settings.rasa_project_dir, settings.training_config)
    if live_path is not None and live_path.exists() and live_fingerprint == current:
        return live_path
    model = ensure_model(settings)
    with sessions.begin() as session:
        jobs.register_live(session, model)
    return model


PURGE_EVERY = 24 * 3600  # seconds between two purges in `neetbot run`


def _interrupt(*_: object) -> None:
    """SIGTERM (a container stop) and SIGHUP (the terminal closed) stop `neetbot run` like
    Ctrl-C does."""
    raise KeyboardInterrupt


@app.command()
def run(
    telegram: bool = typer.Option(True, help="Start the Telegram connector too."),
) -> None:
    """Start everything: Rasa, the action server, the dashboard and the Telegram connector.
    Ctrl-C stops all. Exits with 1 when a port is taken or a process fails to start or stops."""
    from connectors import processes

    settings = get_settings()
    connector = telegram and settings.telegram_bot_token is not None
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    supervisor = processes.Supervisor()
    failed = False
    try:
        # Before training a model for minutes: a port taken (often by what an earlier run left
        # behind) would make a process fail, while the old one answers its health check.
        processes.check_ports(processes.stack_ports(settings, connector))
        prepare_database(settings.database_url)
        model = _model_to_serve(settings)
        logs = settings.var_dir / "logs"
        processes.secure_state(settings.var_dir)
        processes.rotate_logs(logs, settings.privacy_inactive_days)
        supervisor.start(*processes.backend_services(settings, model, logs))
        typer.echo(f"Action server on 127.0.0.1:{settings.actions_port} (log: {logs}/actions.log)")
        typer.echo(f"Rasa server on {settings.rasa_url} (log: {logs}/rasa.log)")
        supervisor.start(processes.dashboard_service(settings, logs))
        typer.echo(
            f"Dashboard on http://{settings.dashboard_host}:{settings.dashboard_port} "
            f"(log: {logs}/dashboard.log). Create an account first: "
            ".venv/bin/neetbot users create --username NAME --role admin"
        )
        if telegram and not connector:
            typer.echo(
                "TELEGRAM_BOT_TOKEN is not set: no Telegram connector. Chat with `make chat`."
            )
        elif connector:
            supervisor.start(processes.telegram_service(settings))
            typer.echo(f"Telegram connector running in {settings.telegram_mode} mode.")
        typer.echo("Ready. Ctrl-C stops everything.")
        next_purge = time.monotonic() + 60  # once Rasa has settled, then daily

        def purge_when_due() -> None:
            nonlocal next_purge
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY
                try:
                    purge(settings.privacy_inactive_days)
                    processes.rotate_logs(logs, settings.privacy_inactive_days)
                except Exception:
                    logger.exception("The daily privacy purge failed; trying again tomorrow")

        stopped = supervisor.watch(tick=purge_when_due)
        typer.echo(
            f"{stopped.name} stopped (exit code {stopped.process.returncode}); stopping the rest.",
            err=True,
        )
        failed = True
    except processes.PortInUse as error:  # nothing started
        typer.echo(str(error), err=True)
        failed = True
    except processes.StartError as error:
        typer.echo(f"{error}; stopping the rest.", err=True)
        failed = True
    except KeyboardInterrupt:
        typer.echo("Stopping.")
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise typer.Exit(1)
