"""design_api: a small client for the Figma REST API shape (``GET /v1/files/:key``, ``GET /v1/files/:key/nodes``,
token header ``X-Figma-Token``), with timeouts and retries on 429/5xx that honour ``Retry-After``.

Configuration (``ToolContext.env`` first, then the environment): ``FIGMA_TOKEN``, ``FIGMA_API_URL`` (default
``https://api.figma.com``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Self

import httpx

from .base import Observation, ToolContext, ToolError, TransientToolError, observe

DEFAULT_URL = "https://api.figma.com"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class DesignAPIError(ToolError):
    """The design API answered with an error that retrying will not fix (401, 403, 404...)."""


def retry_after_seconds(value: str | None, cap_s: float = 60.0) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date.

    >>> retry_after_seconds("3")
    3.0
    >>> retry_after_seconds(None) is None
    True
    """
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), cap_s)
    except ValueError:
        pass
    try:
        return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), cap_s)
    except (TypeError, ValueError):
        return None


class FigmaClient:
    """One ``_request`` chokepoint: timeouts, retries with backoff on 429/5xx and connection errors."""

    def __init__(self, token: str | None, base_url: str = DEFAULT_URL, *, timeout_s: float = 30.0,
                 retries: int = 3, backoff_s: float = 0.5, max_wait_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        if not token:
            raise DesignAPIError("no Figma token", "set FIGMA_TOKEN (a personal access token)")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                    headers={"X-Figma-Token": token, "Accept": "application/json",
                                             "User-Agent": "tanuki-design-api"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            wait: float | None
            try:
                resp = self._client.get(path, params={k: v for k, v in (params or {}).items() if v is not None})
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt > self.retries:
                    raise TransientToolError(f"design API unreachable at {self.base_url}: {exc}",
                                             "check FIGMA_API_URL and the network") from exc
                wait = None
            else:
                if resp.status_code < 400:
                    return resp.json()
                if resp.status_code not in RETRY_STATUS:
                    try:
                        detail = resp.json().get("err") or resp.json().get("message") or resp.text
                    except ValueError:
                        detail = resp.text
                    hint = {401: "check FIGMA_TOKEN", 403: "the token lacks access to this file",
                            404: "check the file key and node ids"}.get(resp.status_code, "check the request")
                    raise DesignAPIError(f"design API {resp.status_code} for {path}: {str(detail)[:200]}", hint)
                wait = retry_after_seconds(resp.headers.get("Retry-After"), self.max_wait_s)
                if attempt > self.retries:
                    raise TransientToolError(f"design API still answers {resp.status_code} after {attempt} "
                                             "attempts", "wait and retry later", retry_after_s=wait)
            self.sleep(wait if wait is not None else min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s))

    def file(self, key: str, *, depth: int | None = None) -> dict[str, Any]:
        return self._request(f"/v1/files/{_key(key)}", {"depth": depth})

    def nodes(self, key: str, ids: Iterable[str], *, depth: int | None = None) -> dict[str, Any]:
        return self._request(f"/v1/files/{_key(key)}/nodes", {"ids": ",".join(ids), "depth": depth})


def _key(key: str) -> str:
    if not key or not all(c.isalnum() or c in "-_" for c in key):
        raise DesignAPIError(f"bad file key {key!r}", "pass the key from the file URL (figma.com/file/<key>/...)")
    return key


def outline(node: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """A small view of a node tree for the agent: id, name, type, size and children to ``depth``."""
    out: dict[str, Any] = {"id": node.get("id"), "name": node.get("name"), "type": node.get("type")}
    box = node.get("absoluteBoundingBox")
    if box:
        out["size"] = [box.get("width"), box.get("height")]
    if depth > 0 and node.get("children"):
        out["children"] = [outline(c, depth - 1) for c in node["children"][:50]]
    return out


class DesignAPI:
    name = "design_api"
    description = ("Read designs from the Figma REST API. action=file: a file's pages and frames; action=nodes: "
                   "given node ids with their subtrees.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["file_key"], "properties": {
        "action": {"type": "string", "enum": ["file", "nodes"], "default": "file"},
        "file_key": {"type": "string", "minLength": 1},
        "ids": {"type": "array", "items": {"type": "string"}},
        "depth": {"type": "integer", "minimum": 1, "maximum": 10}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        depth = args.get("depth")
        # The registry retries TransientToolError; the client itself retries only once here to avoid
        # multiplying the two retry loops.
        with FigmaClient(ctx.getenv("FIGMA_TOKEN"), ctx.getenv("FIGMA_API_URL", DEFAULT_URL),
                         timeout_s=min(ctx.timeout_s, 30.0), retries=1) as client:
            if args.get("action", "file") == "file":
                doc = client.file(args["file_key"], depth=depth)
                root = doc.get("document") or {}
                data = {"name": doc.get("name"), "lastModified": doc.get("lastModified"),
                        "version": doc.get("version"), "document": outline(root, depth or 2)}
                pages = len(root.get("children", []))
                return observe(self.name, True, f"file {doc.get('name')!r}: {pages} page(s)", data)
            ids = args.get("ids") or []
            if not ids:
                raise DesignAPIError("action=nodes needs ids", "pass node ids such as 1:2")
            doc = client.nodes(args["file_key"], ids, depth=depth)
            nodes = {nid: outline((n or {}).get("document") or {}, depth or 2)
                     for nid, n in (doc.get("nodes") or {}).items()}
            missing = [i for i in ids if nodes.get(i, {}).get("id") is None]
            return observe(self.name, not missing, f"{len(nodes) - len(missing)} of {len(ids)} node(s) found",
                           {"name": doc.get("name"), "nodes": nodes, "missing": missing},
                           error=f"missing nodes: {missing}" if missing else None)
