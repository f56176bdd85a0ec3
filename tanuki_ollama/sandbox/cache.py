"""Compiled artifacts cached by content hash, and the only way sandbox-written bytes reach the host.

The host never opens a path inside a sandbox's filesystem (a planted symlink would make it read a host file,
the Judge0 CVE-2024-28185 class). Files leave the sandbox as a tar stream on a pipe; :func:`safe_members`
accepts only regular files and directories with clean relative names, within a size budget, and writes them
with ``O_NOFOLLOW | O_EXCL`` below a directory the host just created.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..settings import Settings


class UnsafeArchive(ValueError):
    pass


def safe_members(data: bytes, limit_bytes: int, *, strict: bool = True
                 ) -> Iterator[tuple[PurePosixPath, bytes | None, int]]:
    """Yield ``(relative path, content or None for a directory, mode)`` from an untrusted tar stream.
    Absolute or ``..`` names and content over ``limit_bytes`` raise :class:`UnsafeArchive`; so do links and
    devices when ``strict`` (otherwise they are skipped: their targets are never read)."""
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                name = PurePosixPath(m.name)
                if name.is_absolute() or ".." in name.parts or not name.parts:
                    raise UnsafeArchive(f"unsafe name {m.name!r}")
                if m.isdir():
                    yield name, None, 0o755
                elif m.isreg():
                    total += m.size
                    if total > limit_bytes:
                        raise UnsafeArchive("archive over its size limit")
                    f = tar.extractfile(m)
                    yield name, (f.read() if f else b""), (0o755 if m.mode & 0o111 else 0o644)
                elif strict:
                    raise UnsafeArchive(f"{m.name!r} is not a regular file or directory")
    except tarfile.TarError as exc:
        raise UnsafeArchive(f"unreadable archive: {exc}") from None


def extract(data: bytes, dest: Path, limit_bytes: int) -> None:
    """Write the safe members of ``data`` below the fresh directory ``dest``."""
    dest.mkdir(parents=True, exist_ok=False, mode=0o755)
    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name, content, mode in safe_members(data, limit_bytes):
            dir_fd = root_fd
            opened = []
            try:
                parts = name.parts if content is None else name.parts[:-1]
                for part in parts:
                    try:
                        os.mkdir(part, 0o755, dir_fd=dir_fd)
                    except FileExistsError:
                        pass
                    dir_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                    opened.append(dir_fd)
                if content is not None:
                    fd = os.open(name.parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode,
                                 dir_fd=dir_fd)
                    with os.fdopen(fd, "wb") as f:
                        f.write(content)
                        os.fchmod(f.fileno(), mode)
            finally:
                for fd in opened:
                    os.close(fd)
    finally:
        os.close(root_fd)


def read_text_files(data: bytes, limit_bytes: int) -> dict[str, str]:
    """Collected files as text (UTF-8 with replacement), regular files only."""
    return {str(n): c.decode("utf-8", "replace") for n, c, _ in safe_members(data, limit_bytes, strict=False)
            if c is not None}


class ArtifactCache:
    """``<root>/artifacts/<k[:2]>/<k>/`` holds ``out/`` (what the run needs) and ``meta.json`` (the compile
    report). Entries appear atomically (rename), so concurrent compiles of one program are harmless."""

    def __init__(self, root: Path | None = None):
        self.root = root or Settings.from_env().cache / "sandbox"

    def entry(self, key: str) -> Path:
        return self.root / "artifacts" / key[:2] / key

    def get(self, key: str) -> dict | None:
        try:
            return json.loads((self.entry(key) / "meta.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, meta: dict, archive: bytes | None, limit_bytes: int) -> Path:
        final = self.entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            if archive:
                extract(archive, tmp / "x", limit_bytes)
                src = tmp / "x" / "out"
                if src.is_dir() and not src.is_symlink():
                    src.rename(tmp / "out")
                shutil.rmtree(tmp / "x")
            (tmp / "meta.json").write_text(json.dumps(meta))
            os.chmod(tmp, 0o755)
            try:
                tmp.rename(final)
            except OSError:  # another compile of the same program won the race
                pass
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def clear(self) -> None:
        shutil.rmtree(self.root / "artifacts", ignore_errors=True)
