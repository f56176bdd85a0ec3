"""``tanuki keys``: API keys of ``tanuki serve`` (stored hashed; the secret is shown once)."""

from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from ..server.store import SCOPES

store_option = click.option("--store", "store_url", envvar="TANUKI_STORE",
                            help="sqlite:///path (default $TANUKI_HOME/server.db), postgresql://, redis://")


def _store(url: str | None):
    from ..server.store import default_store_url, open_store
    from ..settings import Settings

    return open_store(url or default_store_url(Settings.from_env().home))


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "never"


@click.group("keys")
def keys_group() -> None:
    """Create, list and revoke API keys for `tanuki serve`."""


@keys_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES), default=("models", "chat"),
              show_default=True, help="models: list models; chat: agents; tools: team runs; admin: everything.")
@store_option
@click.option("--json", "as_json", is_flag=True)
def create_cmd(name: str, scopes: tuple[str, ...], store_url: str | None, as_json: bool) -> None:
    """Create a key NAME; prints the secret once (it is stored only as a salted hash)."""
    key, secret = _store(store_url).create_key(name, scopes)
    if as_json:
        click.echo(json.dumps({"id": key.id, "name": key.name, "scopes": key.scopes, "secret": secret}))
        return
    click.echo(secret)
    click.echo(f"key {key.id} ({', '.join(key.scopes)}): keep the secret above, it is not shown again", err=True)


@keys_group.command("list")
@store_option
@click.option("--json", "as_json", is_flag=True)
def list_cmd(store_url: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    keys = _store(store_url).list_keys()
    if as_json:
        click.echo(json.dumps([k.model_dump() for k in keys]))
        return
    table = Table("id", "name", "scopes", "state", "created", "last used")
    for k in keys:
        table.add_row(k.id, k.name, ",".join(k.scopes), "revoked" if k.revoked else "active", _when(k.created_at),
                      _when(k.last_used_at))
    Console().print(table)


@keys_group.command("revoke")
@click.argument("key_id")
@store_option
def revoke_cmd(key_id: str, store_url: str | None) -> None:
    """Revoke the key KEY_ID (as shown by `tanuki keys list`); takes effect on every replica at once."""
    from ..errors import ConfigError

    if not _store(store_url).revoke_key(key_id):
        raise ConfigError(f"no active key {key_id!r}", hint="see `tanuki keys list`")
    click.echo(f"revoked {key_id}")


COMMANDS = [keys_group]
