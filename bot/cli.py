"""`neetbot`: the project's command line."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from bot.db.session import session_factory
from bot.logging_setup import configure_logging
from bot.services.alerts import queue_alerts
from bot.services.catalogue_csv import export_catalogue, import_catalogue
from bot.services.privacy import purge_inactive
from bot.services.setup import prepare_database
from bot.services.users import MIN_PASSWORD, UserError, create_user
from bot.settings import Settings, get_settings

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
    settings = get_settings()
    secrets = [
        secret.get_secret_value()
        for secret in (settings.telegram_bot_token, settings.rasa_token, settings.secret_key)
        if secret is not None
    ]
    configure_logging("DEBUG" if verbose else settings.log_level, secrets)


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
        return purge_inactive(session, settings.tracker_store_url, days)


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
) -> None:
    """Create a coach or admin account (the password is stored as an argon2 hash)."""
    settings = get_settings()
    prepare_database(settings.database_url, sample=None)
    try:
        with session_factory(settings.database_url).begin() as session:
            user = create_user(session, username, role, password)
            name, granted = user.username, user.role
    except UserError as error:
        typer.echo(f"No user created: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created {granted} {name!r}.")


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
    from bot.training import ensure_model

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
    from bot.studio import jobs
    from bot.training import ensure_model, model_hash, write_generated_data

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
    """SIGTERM stops `neetbot run` like Ctrl-C does."""
    raise KeyboardInterrupt


@app.command()
def run(
    telegram: bool = typer.Option(True, help="Start the Telegram connector too."),
) -> None:
    """Start everything: Rasa, the action server, the dashboard and the Telegram connector.
    Ctrl-C stops all."""
    from bot import processes

    settings = get_settings()
    prepare_database(settings.database_url)
    model = _model_to_serve(settings)
    logs = settings.var_dir / "logs"
    started = []
    try:
        actions, rasa = processes.start_backend(settings, model, logs)
        started += [("actions", actions), ("rasa", rasa)]
        typer.echo(f"Action server on 127.0.0.1:{settings.actions_port} (log: {logs}/actions.log)")
        typer.echo(f"Rasa server on {settings.rasa_url} (log: {logs}/rasa.log)")
        board = processes.start(processes.dashboard(settings), logs / "dashboard.log")
        started.append(("dashboard", board))
        processes.wait_for_http(f"http://127.0.0.1:{settings.dashboard_port}/health", 60, board)
        typer.echo(
            f"Dashboard on http://{settings.dashboard_host}:{settings.dashboard_port} "
            f"(log: {logs}/dashboard.log). Create an account first: "
            ".venv/bin/neetbot users create --username NAME --role admin"
        )
        if telegram:
            if settings.telegram_bot_token is None:
                typer.echo(
                    "TELEGRAM_BOT_TOKEN is not set: no Telegram connector. Chat with `make chat`."
                )
            else:
                connector = processes.start(processes.telegram_connector(settings))
                started.append(("telegram", connector))
                typer.echo(f"Telegram connector started in {settings.telegram_mode} mode.")
        typer.echo("Ready. Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, _interrupt)
        next_purge = time.monotonic() + 60  # once Rasa has settled, then daily
        while all(process.poll() is None for _, process in started):
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY
                try:
                    purge(settings.privacy_inactive_days)
                except Exception:
                    logger.exception("The daily privacy purge failed; trying again tomorrow")
            time.sleep(1)
        for name, process in started:
            if process.poll() is not None:
                typer.echo(f"{name} stopped (exit code {process.returncode}); stopping the rest.")
    except KeyboardInterrupt:
        typer.echo("Stopping.")
    finally:
        for _, process in reversed(started):
            processes.stop(process)
