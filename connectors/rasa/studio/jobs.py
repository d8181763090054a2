"""Training and validating in the background, and putting a model live without downtime.

One job at a time runs in a thread of the dashboard, as a `rasa` subprocess; its progress
(stage, epochs) is read from Rasa's output and kept in `studio_jobs`, so the page can show it
and it survives the page being closed. The bot keeps serving the live model meanwhile.
Activating loads a model into the running Rasa server through its HTTP API (`PUT /model`):
Rasa swaps it in when loaded; conversations live in the tracker store and carry on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ROOT
from bot.db.models import ModelVersion, StudioJob
from bot.refusal import N_
from bot.services import claims
from bot.services.people import now
from bot.settings import Settings
from connectors.rasa.studio.evaluation import evaluate, held_out
from connectors.rasa.studio.nlu import StudioError
from connectors.rasa.studio.sandbox import Sandbox
from connectors.rasa.training import (
    RASA_BIN,
    model_hash,
    rasa_env,
    train_command,
    write_generated_data,
)

logger = logging.getLogger(__name__)
_COMPONENT = re.compile(r"Starting to train component '([^']+)'")
_RESTORED = re.compile(r"Restored component '([^']+)'")
_EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
_WARNING = re.compile(r"UserWarning: (.+)")
OUTPUT_KEPT = 6000  # characters of a job's output kept for the page
FALSE_WARNINGS = (  # Rasa 3.6's validator reports these wrongly (see tests/integration)
    "The utterance 'utter_default' is not used",
    "The utterance 'utter_ask_rephrase' is not used",
    "duplicated intents have been found across multiple domain files: ask_programme",
)


def _lines(stream: object) -> object:
    """Lines of a subprocess's output, split on \\n and on tqdm's \\r."""
    buffer = b""
    while True:
        chunk = stream.read1(4096)  # type: ignore[attr-defined]
        if not chunk:
            break
        buffer += chunk
        parts = re.split(rb"[\r\n]", buffer)
        buffer = parts.pop()
        for part in parts:
            if part.strip():
                yield part.decode("utf-8", "replace")
    if buffer.strip():
        yield buffer.decode("utf-8", "replace")


_PATH = re.compile(r"(?:/[\w.+-]+)+/(?=[\w.+-]+\.py\b)")
_PYTHON_WARNING = re.compile(r"(Deprecation|Future|Pending|Resource)Warning")


def failure_output(code: int, output: str) -> str:
    """What a validation with no finding shows: nothing when it passed (Python's own warnings
    are not the data's problems); when it failed, its last lines without Python's warnings
    and without the server's paths."""
    if code == 0:
        return ""
    lines, skip = [], False
    for line in output.splitlines():
        if _PYTHON_WARNING.search(line):
            skip = True  # the warning and the source line under it
            continue
        if skip and line.startswith((" ", "\t")):
            continue
        skip = False
        lines.append(_PATH.sub("", line.replace(f"{ROOT}/", "")))
    return "\n".join(lines)[-OUTPUT_KEPT:]


# What a job's stage says. It is kept in English in `studio_jobs`; the dashboard shows it in
# its reader's language by recognising which of these texts it was made from
# (bot.refusal.recognise). A failure's own message is shown as it is.
TRAINING = N_("Training %(component)s (step %(step)s of about %(total)s)")
REUSED = N_("Reused %(component)s (unchanged)")
TRAIN_FAILED = N_("rasa train failed (exit code %(code)s)")
NOT_EVALUATED = N_("Trained (not evaluated: %(error)s)")
FINDINGS = N_("%(count)s finding(s)")
FINDINGS_FAILED = N_("%(count)s finding(s), exit code %(code)s")
INTERRUPTED = N_("Stopped: the dashboard running it stopped")
STAGES = (
    N_("Starting"),
    N_("Loading the data"),
    TRAINING,
    REUSED,
    TRAIN_FAILED,
    N_("Trained; evaluating it next to the live model"),
    N_("Starting a sandbox with the new model"),
    N_("Evaluating the new model"),
    N_("Evaluating the live model"),
    NOT_EVALUATED,
    N_("Trained and evaluated: try it below, then activate it"),
    N_("Validating the data"),
    N_("No problems found"),
    FINDINGS_FAILED,
    FINDINGS,
    INTERRUPTED,
)
JOB_LEASE = dt.timedelta(seconds=30)  # how long a job's claim outlives a dashboard that died
RENEW_SECONDS = 10.0


class Progress:
    """A training's stage and the share of the whole training done, read from Rasa's output
    line by line (`total`: about how many components it trains)."""

    def __init__(self, total: int) -> None:
        self.total, self.started = max(1, total), 0
        self.stage, self.progress = "Loading the data", 0.0

    def feed(self, line: str) -> None:
        if match := _COMPONENT.search(line):
            self._next()
            self.stage = TRAINING % {
                "component": match.group(1),
                "step": self.started,
                "total": self.total,
            }
            self.progress = min(0.99, (self.started - 1) / self.total)
        elif match := _RESTORED.search(line):
            self._next()
            self.stage = REUSED % {"component": match.group(1)}
            self.progress = min(0.99, self.started / self.total)
        elif (match := _EPOCHS.search(line)) and self.started:
            share = (self.started - 1 + int(match.group(1)) / 100) / self.total
            self.progress = min(0.99, max(self.progress, share))

    def _next(self) -> None:
        self.started += 1
        self.total = max(self.total, self.started)


class Runner:
    """Starts and follows studio jobs for one dashboard."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.sandbox = Sandbox(settings)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.owner = claims.owner_name()  # in the studio's claim while a job runs

    @property
    def project(self) -> Path:
        return self.settings.rasa_project_dir

    def _components(self) -> int:
        """How many components the training runs, about (the pipeline and the policies)."""
        try:
            config = yaml.safe_load((self.project / self.settings.training_config).read_text())
            return max(1, len(config.get("pipeline") or []) + len(config.get("policies") or []))
        except (OSError, yaml.YAMLError, AttributeError):
            return 1

    def changed_since(self, version: ModelVersion | None) -> bool:
        """Whether the data (config, domain, training data) differs from what `version` was
        trained on: a new training would give another model."""
        if version is None or not version.fingerprint:
            return False
        return version.fingerprint != model_hash(self.project, self.settings.training_config)

    def busy(self) -> bool:
        """Whether a job is running now."""
        return self._thread is not None and self._thread.is_alive()

    def _start(self, kind: str, username: str) -> int:
        with self._lock:
            if self.busy():
                raise StudioError("A training or validation is already running: wait for it.")
            with self.sessions.begin() as session:
                # One job at a time for every dashboard replica: the studio's claim
                if claims.take(session, claims.STUDIO, self.owner, JOB_LEASE) is None:
                    raise StudioError("A training or validation is already running: wait for it.")
                # A job still "running" now ran in a dashboard that died: say so
                session.execute(
                    update(StudioJob)
                    .where(StudioJob.status == "running")
                    .values(status="failed", stage=INTERRUPTED, finished_at=now())
                )
                job = StudioJob(
                    kind=kind, status="running", stage="Starting", progress=0.0,
                    started_by=username, started_at=now(), output="",
                )  # fmt: skip
                session.add(job)
                session.flush()
                job_id = job.id
            target = self._train if kind == "train" else self._validate
            self._thread = threading.Thread(
                target=self._claimed, args=(target, job_id, username), daemon=True
            )
            self._thread.start()
            return job_id

    def _claimed(self, target: Callable[[int, str], None], job_id: int, username: str) -> None:
        """Run the job, keeping the studio's claim alive meanwhile, then give it up."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(RENEW_SECONDS):
                try:
                    with self.sessions.begin() as session:
                        claims.renew(session, self.owner, JOB_LEASE)
                except Exception as error:  # the next round tries again, within the lease
                    logger.warning("Could not renew the studio's claim (%s)", type(error).__name__)

        renewing = threading.Thread(target=renew, daemon=True)
        renewing.start()
        try:
            target(job_id, username)
        finally:
            done.set()
            renewing.join()
            try:
                with self.sessions.begin() as session:
                    claims.release(session, claims.STUDIO, self.owner)
            except Exception as error:  # it runs out by itself within the lease
                logger.warning("Could not give up the studio's claim (%s)", type(error).__name__)

    def start_training(self, username: str) -> int:
        """Train a model of the project as it is now, in the background; returns the job."""
        return self._start("train", username)

    def start_validation(self, username: str) -> int:
        """Run `rasa data validate` in the background; returns the job."""
        return self._start("validate", username)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running job ends (for the command line and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _update(self, job_id: int, **values: object) -> None:
        with self.sessions.begin() as session:
            session.execute(update(StudioJob).where(StudioJob.id == job_id).values(**values))

    def _follow(self, job_id: int, command: list[str]) -> tuple[int, str]:
        """Run `command` in the project, updating the job's stage and progress as it goes."""
        output: list[str] = []
        last_write = 0.0
        follow = Progress(self._components())
        process = subprocess.Popen(
            command, cwd=self.project, env=rasa_env(self.settings),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert process.stdout is not None
        for line in _lines(process.stdout):  # type: ignore[attr-defined]
            if not line.startswith("Epochs:"):
                output.append(line)
            follow.feed(line)
            if time.monotonic() - last_write > 1.0:
                last_write = time.monotonic()
                self._update(job_id, stage=follow.stage, progress=follow.progress)
        return process.wait(), "\n".join(output)

    def _train(self, job_id: int, username: str) -> None:
        started = time.monotonic()
        try:
            write_generated_data(self.project)
            fingerprint = model_hash(self.project, self.settings.training_config)
            name = f"{fingerprint}-{int(time.time())}"
            out = self.settings.model_cache_dir
            out.mkdir(parents=True, exist_ok=True)
            command = train_command(out, name, self.settings.training_config)
            code, output = self._follow(job_id, command)
            model = out / f"{name}.tar.gz"
            if code != 0 or not model.exists():
                self._update(
                    job_id, status="failed", stage=TRAIN_FAILED % {"code": code},
                    finished_at=now(), output=output[-OUTPUT_KEPT:],
                )  # fmt: skip
                return
            with self.sessions.begin() as session:
                version = ModelVersion(
                    path=str(model), fingerprint=fingerprint, trained_at=now(),
                    trained_by=username, seconds=time.monotonic() - started, active=False,
                )  # fmt: skip
                session.add(version)
                session.flush()
                session.execute(
                    update(StudioJob)
                    .where(StudioJob.id == job_id)
                    .values(
                        stage="Trained; evaluating it next to the live model", progress=0.0,
                        output=output[-OUTPUT_KEPT:], model_id=version.id,
                    )
                )  # fmt: skip
                prune(session, self.settings.models_kept)
                version_id = version.id
            stage = self._evaluate(job_id, version_id, model)
            self._update(job_id, status="done", stage=stage, progress=1.0, finished_at=now())
        except Exception as error:
            logger.exception("The training job %d failed", job_id)
            self._update(job_id, status="failed", stage=str(error)[:120], finished_at=now())

    def _evaluate(self, job_id: int, version_id: int, model: Path) -> str:
        """Serve the new model in the sandbox (where admins can also try it) and score it and
        the live one on the held-out messages. Returns the job's last stage."""
        sets = held_out(self.settings.studio_eval_dir)
        try:
            self._update(job_id, stage="Starting a sandbox with the new model")
            url = self.sandbox.start(model)
            if not sets:
                return "Trained (no held-out messages in eval/intents to evaluate with)"
            token = self.settings.rasa_token.get_secret_value() if self.settings.rasa_token else ""
            self._update(job_id, stage="Evaluating the new model")
            new = evaluate(url, token, sets)
            self._update(job_id, stage="Evaluating the live model")
            try:
                live_scores = evaluate(self.settings.rasa_url, token, sets)
            except httpx.HTTPError:
                live_scores = {}
        except Exception as error:
            logger.warning("Evaluating model %d failed", version_id, exc_info=True)
            return NOT_EVALUATED % {"error": type(error).__name__}
        with self.sessions.begin() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == version_id)
                .values(metrics=json.dumps({"new": new, "live": live_scores}))
            )
        return "Trained and evaluated: try it below, then activate it"

    def _validate(self, job_id: int, username: str) -> None:
        try:
            command = [
                str(RASA_BIN), "data", "validate", "--domain", "domain", "--data", "data",
                "--config", self.settings.training_config,
            ]  # fmt: skip
            self._update(job_id, stage="Validating the data")
            code, output = self._follow(job_id, command)
            findings = [
                finding
                for finding in _WARNING.findall(output)
                if not any(known in finding for known in FALSE_WARNINGS)
            ]
            errors = [line for line in output.splitlines() if "ERROR" in line or "Error" in line]
            summary = findings + errors
            status = "done" if code == 0 else "failed"
            stage = (
                "No problems found"
                if code == 0 and not summary
                else FINDINGS % {"count": len(summary)}
                if code == 0
                else FINDINGS_FAILED % {"count": len(summary), "code": code}
            )
            self._update(
                job_id, status=status, stage=stage, progress=1.0, finished_at=now(),
                output="\n".join(summary)[-OUTPUT_KEPT:] or failure_output(code, output),
            )  # fmt: skip
        except Exception as error:
            logger.exception("The validation job %d failed", job_id)
            self._update(job_id, status="failed", stage=str(error)[:120], finished_at=now())


def prune(session: Session, keep: int) -> list[str]:
    """Keep the newest `keep` trained models (and always the live one); delete the rest."""
    versions = kept_versions(session)
    removed = []
    for version in versions[keep:]:
        if version.active:
            continue
        if version.trained_by != "neetbot run":  # that one is the shared cache's: kept there
            Path(version.path).unlink(missing_ok=True)
            removed.append(version.path)
        session.execute(
            update(StudioJob).where(StudioJob.model_id == version.id).values(model_id=None)
        )
        session.delete(version)
    return removed


def kept_versions(session: Session) -> list[ModelVersion]:
    """The models kept, newest first."""
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))


def recent_jobs(session: Session, limit: int = 10) -> list[StudioJob]:
    """The latest training and validation jobs, newest first."""
    return list(session.scalars(select(StudioJob).order_by(StudioJob.id.desc()).limit(limit)))


def get_job(session: Session, job_id: int) -> StudioJob | None:
    """One job, or None."""
    return session.get(StudioJob, job_id)


def get_version(session: Session, version_id: int) -> ModelVersion | None:
    """One kept model, or None."""
    return session.get(ModelVersion, version_id)


def live(session: Session) -> ModelVersion | None:
    """The model the studio last put live."""
    return session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))


def register_live(session: Session, path: Path, by: str = "neetbot run") -> ModelVersion:
    """Note the model the Rasa server was started with as the live one."""
    current = live(session)
    if current is not None and Path(current.path) == path:
        return current
    session.execute(update(ModelVersion).values(active=False))
    version = session.scalar(select(ModelVersion).where(ModelVersion.path == str(path)))
    if version is None:
        version = ModelVersion(
            path=str(path), fingerprint=path.name.split(".")[0].split("-")[0],
            trained_at=now(), trained_by=by, seconds=0.0,
        )  # fmt: skip
        session.add(version)
    version.active, version.activated_at = True, now()
    session.flush()
    return version


def mark_active(session: Session, version_id: int) -> ModelVersion:
    """Record that a model is now the live one."""
    version = session.get(ModelVersion, version_id)
    if version is None or not Path(version.path).exists():
        raise StudioError("That model is no longer kept.")
    session.execute(update(ModelVersion).values(active=False))
    version.active, version.activated_at = True, now()
    session.flush()
    return version
