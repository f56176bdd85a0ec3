"""read_file, write_file, apply_patch and search on a real workspace."""

from __future__ import annotations

import difflib


def test_write_then_read(registry, ctx, workspace):
    obs = registry.call("write_file", {"path": "pkg/mod.py", "content": "a = 1\nb = 2\nc = 3\n"}, ctx)
    assert obs.ok and obs.data["created"] and obs.data["lines"] == 3
    obs = registry.call("read_file", {"path": "pkg/mod.py", "start_line": 2, "end_line": 3}, ctx)
    assert obs.ok and obs.data["content"] == "b = 2\nc = 3\n" and obs.data["total_lines"] == 3
    obs = registry.call("write_file", {"path": "pkg/mod.py", "content": "a = 1\nb = 2\nc = 3\n"}, ctx)
    assert obs.ok and not obs.data["created"] and not obs.data["changed"]
    assert not registry.call("read_file", {"path": "missing.py"}, ctx).ok
    (workspace / "blob.bin").write_bytes(b"\x00\x01binary")
    assert "binary" in registry.call("read_file", {"path": "blob.bin"}, ctx).error


def test_write_through_an_inside_symlink_edits_its_target(registry, ctx, workspace):
    (workspace / "real.txt").write_text("real")
    (workspace / "alias.txt").symlink_to("real.txt")
    obs = registry.call("write_file", {"path": "alias.txt", "content": "new"}, ctx)
    assert obs.ok and obs.data["path"] == "real.txt"
    assert (workspace / "real.txt").read_text() == "new" and (workspace / "alias.txt").is_symlink()


def _diff(path, old, new):
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def test_apply_patch_modify_create_delete(registry, ctx, workspace):
    old = "".join(f"line {i}\n" for i in range(1, 30))
    (workspace / "m.txt").write_text(old)
    (workspace / "gone.txt").write_text("bye\n")
    new = old.replace("line 5\n", "line five\n").replace("line 25\n", "")
    patch = _diff("m.txt", old, new)
    patch += "--- /dev/null\n+++ b/new/file.py\n@@ -0,0 +1,2 @@\n+def f():\n+    return 1\n"
    patch += "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    obs = registry.call("apply_patch", {"patch": patch}, ctx)
    assert obs.ok, obs
    assert (workspace / "m.txt").read_text() == new
    assert (workspace / "new/file.py").read_text() == "def f():\n    return 1\n"
    assert not (workspace / "gone.txt").exists()
    assert {f["action"] for f in obs.data["files"]} == {"modified", "created", "deleted"}


def test_apply_patch_finds_drifted_hunks(registry, ctx, workspace):
    old = "".join(f"x{i}\n" for i in range(40))
    patch = _diff("d.txt", old, old.replace("x20\n", "X20\n")) + "\n\n"  # models add trailing newlines
    (workspace / "d.txt").write_text("header\nheader2\nheader3\n" + old)  # the hunk is now 3 lines lower
    assert registry.call("apply_patch", {"patch": patch}, ctx).ok
    assert "X20" in (workspace / "d.txt").read_text()


def test_apply_patch_is_all_or_nothing(registry, ctx, workspace):
    (workspace / "a.txt").write_text("one\ntwo\n")
    (workspace / "b.txt").write_text("three\n")
    patch = _diff("a.txt", "one\ntwo\n", "one\n2\n") + _diff("b.txt", "not what is there\n", "x\n")
    obs = registry.call("apply_patch", {"patch": patch}, ctx)
    assert not obs.ok and "b.txt: hunk 1" in obs.error
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"
    assert not registry.call("apply_patch", {"patch": "just words"}, ctx).ok


def test_text_search_literal_regex_glob(registry, ctx, workspace):
    (workspace / "src").mkdir()
    (workspace / "src/a.py").write_text("def alpha():\n    return 'a.b'\n")
    (workspace / "src/b.js").write_text("function alpha() { return 1 }\n")
    (workspace / "node_modules").mkdir()
    (workspace / "node_modules/x.js").write_text("alpha\n")
    obs = registry.call("search", {"query": "alpha"}, ctx)
    assert obs.ok and obs.data["files"] == ["src/a.py", "src/b.js"]
    assert obs.data["matches"][0] == {"path": "src/a.py", "line": 1, "text": "def alpha():"}
    assert registry.call("search", {"query": "a.b"}, ctx).data["files"] == ["src/a.py"]
    obs = registry.call("search", {"query": r"def \w+\(", "regex": True, "glob": "*.py"}, ctx)
    assert [m["line"] for m in obs.data["matches"]] == [1]
    assert registry.call("search", {"query": "ALPHA", "case_sensitive": False, "path": "src/b.js"}, ctx).data[
        "files"] == ["src/b.js"]
    assert not registry.call("search", {"query": "(", "regex": True}, ctx).ok


def test_symbol_search_uses_the_repo_map(registry, ctx, workspace):
    (workspace / "billing.py").write_text("class InvoiceLedger:\n    def total_amount(self):\n        return 0\n")
    (workspace / "net.go").write_text("package net\n\nfunc OpenSocket() int { return 1 }\n")
    obs = registry.call("search", {"query": "invoice total", "mode": "symbols"}, ctx)
    assert obs.ok and obs.data["hits"][0]["path"] == "billing.py"
    assert obs.data["hits"][0]["symbol"] in ("InvoiceLedger.total_amount", "InvoiceLedger")
    (workspace / "net.go").write_text("package net\n\nfunc OpenInvoiceSocket() int { return 1 }\n")
    obs = registry.call("search", {"query": "open socket", "mode": "symbols"}, ctx)  # map updated in place
    assert obs.data["hits"][0]["symbol"] == "OpenInvoiceSocket"
