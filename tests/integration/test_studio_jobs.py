"""The studio's validation job runs Rasa's own `rasa data validate` on the edited project and
reports what it finds, without the validator's known false alarms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.db.models import StudioJob
from bot.db.session import session_factory
from bot.services.setup import prepare_database
from bot.settings import SUPPORTED_LANGUAGES, Settings
from connectors.rasa.studio.jobs import Runner
from connectors.rasa.studio.nlu import NluStore
from connectors.rasa.training import RASA_BIN, RASA_PROJECT

pytestmark = pytest.mark.integration


def test_validation_reports_an_intent_without_examples(tmp_path: Path) -> None:
    if not RASA_BIN.exists():
        pytest.fail(f"{RASA_BIN} is missing: run `make install` (make test does it)")
    project = tmp_path / "rasa_project"
    shutil.copytree(RASA_PROJECT, project, ignore=shutil.ignore_patterns(".rasa", "models"))
    NluStore(project, SUPPORTED_LANGUAGES).add_intent("ask_housing")  # no examples, no rule
    settings = Settings(
        _env_file=None, var_dir=tmp_path, rasa_project_dir=project,
        rasa_token=SecretStr("t" * 32), secret_key=SecretStr("k" * 32),
    )  # fmt: skip
    prepare_database(settings.database_url, sample=None)
    sessions = session_factory(settings.database_url)
    runner = Runner(settings, sessions)
    job_id = runner.start_validation("boss")
    runner.wait(timeout=280)
    with sessions.begin() as session:
        job = session.get(StudioJob, job_id)
        assert job is not None and job.status in ("done", "failed"), job and job.stage
        assert "ask_housing" in job.output, job.output
        assert "utter_default" not in job.output  # a known false alarm, filtered out
        assert "finding" in job.stage
