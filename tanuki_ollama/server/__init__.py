"""``tanuki serve``: an Ollama-compatible and OpenAI-compatible HTTP API over any engine, with API keys, rate
limits, metrics and a web UI. Build the app with :func:`tanuki_ollama.server.app.create_app`."""
