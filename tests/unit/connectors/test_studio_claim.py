"""The studio's jobs with several dashboard replicas (decision 26): one training or
validation at a time among all of them, and a job left "running" by a dashboard that died is
shown as stopped, not as running forever."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from bot.db.models import Claim, StudioJob
from bot.db.session import session_factory
from bot.services import claims
from bot.services.people import now
from bot.settings import Settings
from connectors.rasa.studio.jobs import INTERRUPTED, Runner
from connectors.rasa.studio.nlu import StudioError


def runner(database_url: str, job: threading.Event | None = None) -> Runner:
    """A dashboard's job runner whose job waits for `job` (instead of running Rasa)."""
    settings = Settings(_env_file=None, database_url=database_url)
    made = Runner(settings, session_factory(database_url))
    made._validate = lambda job_id, username: job.wait(10) if job else None  # type: ignore[method-assign]
    return made


def test_one_job_at_a_time_among_all_dashboards(database_url: str, sessions) -> None:
    running = threading.Event()
    first, second = runner(database_url, running), runner(database_url)
    first.start_validation("rosa")
    with pytest.raises(StudioError, match="already running"):
        second.start_validation("teo")  # another replica: only the database can tell it
    running.set()
    first.wait(10)
    with sessions.begin() as session:
        assert session.scalar(select(Claim).where(Claim.key == claims.STUDIO)) is None
    second.start_validation("teo")  # the claim was given up with the job
    second.wait(10)


def test_a_job_of_a_dashboard_that_died_is_shown_stopped(database_url: str, sessions) -> None:
    with sessions.begin() as session:
        session.add(
            StudioJob(kind="train", status="running", stage="Starting", progress=0.3,
                      started_by="rosa", started_at=now(), output="")
        )  # fmt: skip
        claims.take(session, claims.STUDIO, "a-dashboard-that-died", dt.timedelta(seconds=-1))
    fresh = runner(database_url)
    fresh.start_validation("teo")
    fresh.wait(10)
    with sessions.begin() as session:
        jobs = {job.started_by: job for job in session.scalars(select(StudioJob))}
    assert jobs["rosa"].status == "failed" and jobs["rosa"].stage == INTERRUPTED
    assert jobs["rosa"].finished_at is not None
