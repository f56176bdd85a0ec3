"""The repo map: tree-sitter symbols for the eight languages, the on-disk cache, incremental updates, BM25."""

from __future__ import annotations

import os

import pytest

from tanuki_ollama.orchestrator.repomap import RepoMap, synthetic_repo

SOURCES = {
    "app/models.py": (("class Account:\n    def deposit(self, amount: int) -> None:\n        self.total += amount\n\n"
                      "@cache\ndef load_accounts(path):\n    return []\n"),
                      [("Account", "class", None), ("deposit", "method", "Account"), ("load_accounts", "function", None)]),
    "web/util.js": (("export class Router {\n  route(path) { return path }\n}\n"
                    "function debounce(fn, ms) { return fn }\nconst throttle = (fn) => fn;\n"),
                    [("Router", "class", None), ("route", "method", "Router"), ("debounce", "function", None),
                     ("throttle", "function", None)]),
    "web/types.ts": (("export interface User { id: number }\ntype Id = number;\nenum Color { Red }\n"
                     "export class Store<T> {\n  get(id: Id): T | undefined { return undefined }\n}\n"
                     "export function makeStore(): Store<User> { return new Store() }\n"),
                     [("User", "interface", None), ("Id", "type", None), ("Color", "enum", None),
                      ("Store", "class", None), ("get", "method", "Store"), ("makeStore", "function", None)]),
    "src/Main.java": (("package x;\npublic class Main {\n  public Main() {}\n  public static void main(String[] a) {}\n"
                      "  interface Shape { double area(); }\n}\n"),
                      [("Main", "class", None), ("Main", "method", "Main"), ("main", "method", "Main"),
                       ("Shape", "interface", "Main"), ("area", "method", "Shape")]),
    "c/list.c": (("struct node { int v; struct node *next; };\ntypedef int count_t;\n"
                 "static int list_len(struct node *n) { return n ? 1 + list_len(n->next) : 0; }\n"
                 "char *dup_name(const char *s) { return 0; }\n"),
                 [("node", "struct", None), ("count_t", "type", None), ("list_len", "function", None),
                  ("dup_name", "function", None)]),
    "cpp/shape.cpp": (("namespace geo {\nclass Circle {\n public:\n  double area() const { return 3.14 * r * r; }\n"
                      "  double r;\n};\ndouble Circle_perimeter(const Circle& c) { return 2 * c.r; }\n}\n"),
                      [("geo", "namespace", None), ("Circle", "class", "geo"), ("area", "method", "Circle"),
                       ("Circle_perimeter", "function", "geo")]),
    "go/server.go": (("package server\n\ntype Server struct {\n\tAddr string\n}\n\n"
                     "func (s *Server) Start() error { return nil }\n\nfunc New(addr string) *Server { return nil }\n"),
                     [("Server", "type", None), ("Start", "method", None), ("New", "function", None)]),
    "rs/lib.rs": (("pub struct Stack { items: Vec<i32> }\n\nimpl Stack {\n    pub fn push(&mut self, x: i32) {}\n}\n\n"
                  "pub trait Shape { fn area(&self) -> f64; }\n\npub fn make() -> Stack { Stack { items: vec![] } }\n"),
                  [("Stack", "struct", None), ("Stack", "impl", None), ("push", "method", "Stack"),
                   ("Shape", "trait", None), ("area", "method", "Shape"), ("make", "function", None)]),
}


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for rel, (text, _) in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text("function hidden() {}\n")
    (root / "README.md").write_text("not code\n")
    return root


def test_symbols_for_every_language(repo):
    m = RepoMap.build(repo)
    assert m.paths() == sorted(SOURCES)
    for rel, (_, expected) in SOURCES.items():
        got = [(s.name, s.kind, s.parent) for s in m.symbols(rel)]
        assert got == expected, rel
    deposit = m.symbols("app/models.py")[1]
    assert (deposit.line, deposit.end_line, deposit.signature) == (2, 3, "def deposit(self, amount: int) -> None")
    assert m.symbols("go/server.go")[1].signature == "func (s *Server) Start() error"


def test_cache_and_incremental_update(repo):
    first = RepoMap.build(repo)
    assert first.stats["parsed"] == len(SOURCES)
    again = RepoMap.build(repo)
    assert again.stats["parsed"] == 0 and again.render() == first.render()
    (repo / "app/models.py").write_text(SOURCES["app/models.py"][0] + "\ndef close_account(a):\n    pass\n")
    (repo / "go/server.go").unlink()
    (repo / "extra.py").write_text("def helper():\n    pass\n")
    os.utime(repo / "web/util.js")  # touched, same content: not reported
    assert again.update() == ["app/models.py", "extra.py", "go/server.go"]
    assert [s.name for s in again.symbols("app/models.py")][-1] == "close_account"
    assert again.symbols("go/server.go") == []
    (repo / "extra.py").write_text("def helper2():\n    pass\n")
    assert again.update([repo / "extra.py", "web/util.js", "/elsewhere/x.py"]) == ["extra.py"]
    rebuilt = RepoMap.build(repo)  # loose objects written by update() are found
    assert rebuilt.stats["parsed"] == 0 and rebuilt.render() == again.render()


def test_search_ranks_symbols_and_chunks(repo):
    m = RepoMap.build(repo)
    hits = m.search("deposit amount")
    assert hits[0].path == "app/models.py" and hits[0].symbol == "Account.deposit" and hits[0].line == 2
    assert m.search("circle perimeter")[0].symbol == "geo.Circle_perimeter"
    (repo / "web/util.js").write_text("function quorumElection() { return 'leader' }\n")
    m.update()
    assert m.search("quorum election", k=1)[0].path == "web/util.js"
    assert m.search("zzzz nothing") == []


def test_render_respects_the_budget(repo):
    m = RepoMap.build(repo)
    full = m.render()
    assert "app/models.py:\n  1: class Account\n    2: def deposit(self, amount: int) -> None" in full
    short = m.render(max_chars=200)
    assert len(short) <= 200 and "more file(s)" in short
    assert m.render(["rs/lib.rs"]).startswith("rs/lib.rs:\n  1: pub struct Stack")


def test_synthetic_repo(tmp_path):
    root = synthetic_repo(tmp_path / "syn", files=40)
    m = RepoMap.build(root)
    assert len(m.paths()) == 40
    assert {p.rsplit(".", 1)[1] for p in m.paths()} == {"py", "js", "ts", "java", "c", "cpp", "go", "rs"}
    assert all(m.symbols(p) for p in m.paths())
