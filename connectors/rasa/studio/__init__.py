"""The admin studio: what the assistant knows (intents, examples, responses), edited as Rasa's
own YAML files, audited, retrained in the background and put live without downtime."""
