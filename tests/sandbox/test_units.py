"""Pure pieces: seccomp program, tar safety, the language table, detection, import hygiene."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest

from tanuki_ollama.sandbox import cache, seccomp
from tanuki_ollama.sandbox.languages import default_table

pytestmark = pytest.mark.timeout(60)


def test_seccomp_programs_build():
    for arch in seccomp.ARCHES:
        prog = seccomp.deny_filter(arch)
        assert len(prog) % 8 == 0 and len(prog) // 8 < 4096


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_safe_members_refuse_links_and_escapes(tmp_path):
    evil = _tar([("out/ok", "file", b"1"), ("out/leak", "sym", "/etc/shadow")])
    with pytest.raises(cache.UnsafeArchive):
        cache.extract(evil, tmp_path / "x", 1 << 20)
    assert cache.read_text_files(evil, 1 << 20) == {"out/ok": "1"}
    with pytest.raises(cache.UnsafeArchive):
        list(cache.safe_members(_tar([("../up", "file", b"x")]), 1 << 20))
    with pytest.raises(cache.UnsafeArchive):
        list(cache.safe_members(_tar([("big", "file", b"x" * 100)]), 10))


def test_language_table_is_complete():
    names = {lang.name for lang in default_table()}
    assert {"python", "javascript", "java", "c", "cpp", "go", "rust", "bash"} <= names
    assert default_table().get("py").name == "python" and default_table().for_file("x.rs").name == "rust"


def test_import_does_no_io():
    code = ("import tanuki_ollama.sandbox, tanuki_ollama.sandbox.detect, tanuki_ollama.cli.sandbox_cmd\n"
            "from tanuki_ollama.sandbox import cgroups, languages, detect\n"
            "assert cgroups.layout.cache_info().currsize == 0\n"
            "assert languages.default_table.cache_info().currsize == 0\n"
            "assert detect._cache == {}\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_doctor_checks_shape(jail_info):
    from tanuki_ollama.sandbox.detect import doctor_checks

    checks = doctor_checks()
    assert checks and all(set(c) == {"name", "status", "detail", "fix", "data"} for c in checks)
    assert all(c["status"] in ("ok", "warn", "fail", "info") and isinstance(c["data"], dict) for c in checks)
    jail = next(c for c in checks if c["name"] == "sandbox jail")
    assert jail["status"] == "ok"
    assert any(c["name"] == "sandbox lang python" and c["status"] == "ok" for c in checks)


def test_container_backend_refuses_cleanly_without_engine():
    from tanuki_ollama.sandbox.detect import SandboxUnavailable, backends, select

    info = next(i for i in backends() if i.name == "container")
    if info.usable:
        pytest.skip("a container engine is reachable: see test_container.py")
    with pytest.raises(SandboxUnavailable) as exc:
        select("container")
    assert exc.value.hint
