"""Every adapter between the core and the outside: the Rasa server and its files
(`connectors.rasa`), Telegram (`connectors.telegram`), a terminal chat (`console`), and the
processes of the stack (`processes`)."""
