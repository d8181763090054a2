"""The configuration without sentence embeddings is config.yml minus the embedding (decision 19),
kept in step with it by every training."""

from __future__ import annotations

import yaml

from connectors.rasa.training import (
    EMBEDDINGS_COMPONENT,
    RASA_PROJECT,
    WITHOUT_EMBEDDINGS,
    model_hash,
    without_embeddings,
    write_generated_data,
)


def test_the_configuration_without_embeddings_is_config_yml_without_them(tmp_path) -> None:
    full = yaml.safe_load((RASA_PROJECT / "config.yml").read_text("utf-8"))
    plain = yaml.safe_load(without_embeddings((RASA_PROJECT / "config.yml").read_text("utf-8")))
    names = [component["name"] for component in full["pipeline"]]
    assert EMBEDDINGS_COMPONENT in names
    assert [component["name"] for component in plain["pipeline"]] == [
        name for name in names if name != EMBEDDINGS_COMPONENT
    ]
    (classifier,) = [c for c in plain["pipeline"] if "weights" in c]
    assert classifier["weights"] == {"words": 3.0, "characters": 10.0}
    assert plain["policies"] == full["policies"]
    # The copy in the project is the one the current config.yml gives
    written = (RASA_PROJECT / WITHOUT_EMBEDDINGS).read_text("utf-8")
    assert written == without_embeddings((RASA_PROJECT / "config.yml").read_text("utf-8"))


def test_a_change_to_config_yml_reaches_the_copy_and_each_has_its_own_model(tmp_path) -> None:
    project = tmp_path / "project"
    for name in ("config.yml", "domain", "data"):
        source = RASA_PROJECT / name
        target = project / name
        if source.is_dir():
            for path in source.rglob("*.yml"):
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                (target / path.relative_to(source)).write_bytes(path.read_bytes())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    config = (project / "config.yml").read_text("utf-8").replace("max_iter: 40", "max_iter: 41")
    (project / "config.yml").write_text(config, encoding="utf-8")
    write_generated_data(project)
    assert "max_iter: 41" in (project / WITHOUT_EMBEDDINGS).read_text("utf-8")
    assert model_hash(project, WITHOUT_EMBEDDINGS) != model_hash(project, "config.yml")
