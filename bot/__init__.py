"""The core every process shares: settings and the one loader of `config/` (`bot.config`),
the database, the services by domain, texts and languages, and the queue of outgoing
messages. It knows neither Rasa nor Telegram nor the web framework (docs/architecture.md;
`make lint` checks it)."""
