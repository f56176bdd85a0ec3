"""``tanuki serve``: the Ollama- and OpenAI-compatible HTTP API, the web UI, metrics (tanuki_ollama.server)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError


def parse_options(pairs: tuple[str, ...]) -> dict[str, object]:
    """``k=v`` pairs -> dict; values that look like JSON numbers/booleans are converted.

    >>> parse_options(("host=http://x:1", "threads=2", "flash=true"))
    {'host': 'http://x:1', 'threads': 2, 'flash': True}
    """
    import json

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad --engine-opt {pair!r}", hint="write it as KEY=VALUE, e.g. --engine-opt threads=2")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback requires API keys.")
@click.option("--port", default=11435, show_default=True, type=int, help="Use 11434 to stand in for Ollama.")
@click.option("--engine", default="ollama", show_default=True, help="ollama, hotswap, or module:Class.")
@click.option("--engine-opt", "engine_opts", multiple=True, metavar="KEY=VALUE",
              help="Engine constructor option (e.g. host=http://127.0.0.1:11434, family=tanuki-micro).")
@click.option("--store", "store_url", envvar="TANUKI_STORE", help="sqlite:///path (default $TANUKI_HOME/server.db), postgresql://, redis://")
@click.option("--auth/--no-auth", default=None,
              help="Require API keys. Default: off on loopback, required elsewhere (--no-auth is refused there).")
@click.option("--workspace", envvar="TANUKI_WORKSPACE", type=click.Path(file_okay=False, path_type=Path),
              help="Repository that runs of the `tanuki` model work on (each run on a copy).")
@click.option("--family", help="Engine-model prefix of the agents for team runs, e.g. tanuki-micro.")
@click.option("--model", "models", multiple=True, help="Serve only these engine models (repeatable).")
@click.option("--rpm", envvar="TANUKI_RPM", default=120, show_default=True, help="Requests per key per minute (0: unlimited).")
@click.option("--tpm", envvar="TANUKI_TPM", default=200_000, show_default=True, help="Tokens per key per minute (0: unlimited).")
@click.option("--max-body", default=4 * 1024 * 1024, show_default=True, help="Largest request body, bytes.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds an engine call may take.")
@click.option("--concurrency", envvar="TANUKI_CONCURRENCY", default=8, show_default=True, help="Engine calls at once in this replica.")
@click.option("--queue", "max_queue", envvar="TANUKI_QUEUE", default=64, show_default=True, help="Requests waiting before 503.")
@click.option("--cors-origin", "cors", multiple=True, help="Allow this browser origin (CORS is off by default).")
@click.option("--plain-logs", is_flag=True, help="Human-readable logs instead of JSON lines.")
@click.option("--openapi", "print_openapi", is_flag=True, help="Print the OpenAPI spec (docs/openapi.json) and exit.")
def serve_cmd(host: str, port: int, engine: str, engine_opts: tuple[str, ...], store_url: str | None,
              auth: bool | None, workspace: Path | None, family: str | None, models: tuple[str, ...], rpm: int,
              tpm: int, max_body: int, timeout: float, concurrency: int, max_queue: int, cors: tuple[str, ...],
              plain_logs: bool, print_openapi: bool) -> None:
    """Serve the agents and the team over Ollama's API (/api) and OpenAI's (/v1), with a web UI at /."""
    if print_openapi:
        from ..server.app import openapi_text

        click.echo(openapi_text(), nl=False)
        return
    from ..server.config import ServeConfig
    from ..server.runner import serve
    from ..server.store import RateLimit

    config = ServeConfig(
        host=host, port=port, engine=engine, engine_options=parse_options(engine_opts), store_url=store_url,
        auth=auth, workspace=workspace.resolve() if workspace else None, family=family, expose_models=list(models),
        rate_limit=RateLimit(window_s=60, requests=rpm, tokens=tpm), max_body_bytes=max_body,
        request_timeout_s=timeout, max_concurrency=concurrency, max_queue=max_queue, cors_origins=list(cors),
        log_json=not plain_logs,
    )
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"starting tanuki serve on {url}: web UI {url}/, Ollama API {url}/api, OpenAI API {url}/v1 "
               f"(clients: OLLAMA_HOST={url.removeprefix('http://')}); Ctrl-C stops it", err=True)
    serve(config)


COMMANDS = [serve_cmd]
