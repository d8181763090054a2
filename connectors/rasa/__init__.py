"""Everything that knows Rasa: the HTTP client of the Rasa server, training and the model
cache, and the studio's editing of Rasa's own YAML files (docs/architecture.md)."""
