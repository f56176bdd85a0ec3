"""Bug injection by AST mutation (Python) and by token substitution (other languages).

Operators: comparison swap (``<``/``<=``, ``>``/``>=``, ``==``/``!=``), arithmetic swap (``+``/``-``,
``*``/``//`` ...), off-by-one on small integer constants, ``and``/``or`` swap, dropped ``not``, negated ``if``
condition; opt-in (``extra=True``, used by the bug-fixing bench): swapped call arguments and a flipped boolean
``return``. A mutant is only *used* when execution shows it fails at least one of the unit's tests.
"""

from __future__ import annotations

import ast
import copy
import random
import re
from dataclasses import dataclass

_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
        ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
        ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.LShift: ast.RShift, ast.RShift: ast.LShift}
_SYM = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
        ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
        ast.FloorDiv: "//", ast.Mod: "%", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>"}


@dataclass
class Mutant:
    code: str
    line: int  # 1-based line of the change in ``code`` (and in the normalised original)
    kind: str
    description: str  # what is wrong, in words, e.g. "`<=` should be `<`"


def _sites(tree: ast.AST, extra: bool = False) -> list[tuple[ast.AST, str, int]]:
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP:
                    sites.append((node, "compare", i))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN or isinstance(node, ast.AugAssign) and type(node.op) in _BIN:
            sites.append((node, "binop", 0))
        elif isinstance(node, ast.Constant) and type(node.value) is int and -2 <= node.value <= 10:
            sites.append((node, "const", 0))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, "boolop", 0))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not", 0))
        elif isinstance(node, ast.If):
            sites.append((node, "negate_if", 0))
        if not extra:
            continue
        if isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            sites.append((node, "swap_args", 0))
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and type(node.value.value) is bool:
            sites.append((node, "return_bool", 0))
    return sites


def _apply(node: ast.AST, kind: str, i: int, parent_of: dict[int, ast.AST]) -> str:
    if kind == "compare":
        old = type(node.ops[i])  # type: ignore[attr-defined]
        node.ops[i] = _CMP[old]()  # type: ignore[attr-defined]
        return f"the comparison uses `{_SYM[_CMP[old]]}` where `{_SYM[old]}` is right"
    if kind == "binop":
        old = type(node.op)  # type: ignore[attr-defined]
        node.op = _BIN[old]()  # type: ignore[attr-defined]
        return f"the operator `{_SYM[_BIN[old]]}` should be `{_SYM[old]}`"
    if kind == "const":
        old = node.value  # type: ignore[attr-defined]
        node.value = old + 1  # type: ignore[attr-defined]
        return f"off by one: the constant {old + 1} should be {old}"
    if kind == "boolop":
        old = type(node.op)  # type: ignore[attr-defined]
        node.op = ast.Or() if old is ast.And else ast.And()  # type: ignore[attr-defined]
        return f"`{'or' if old is ast.And else 'and'}` should be `{'and' if old is ast.And else 'or'}`"
    if kind == "not":
        parent = parent_of[id(node)]
        for field, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, field, node.operand)  # type: ignore[attr-defined]
            elif isinstance(value, list):
                for j, v in enumerate(value):
                    if v is node:
                        value[j] = node.operand  # type: ignore[attr-defined]
        return "a `not` is missing: the condition is inverted"
    if kind == "swap_args":
        args = node.args  # type: ignore[attr-defined]
        args[0], args[1] = args[1], args[0]
        return "the first two arguments of a call are swapped"
    if kind == "return_bool":
        old = node.value.value  # type: ignore[attr-defined]
        node.value = ast.Constant(not old)  # type: ignore[attr-defined]
        return f"`return {not old}` should be `return {old}`"
    if kind == "negate_if":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)  # type: ignore[attr-defined]
        return "the `if` condition is inverted"
    raise ValueError(kind)


def normalise(code: str) -> str:
    return ast.unparse(ast.parse(code))


def python_mutants(code: str, rng: random.Random, limit: int = 3, extra: bool = False) -> list[Mutant]:
    """Up to ``limit`` distinct mutants of ``code`` (which should already be normalised by ``ast.unparse``);
    ``extra`` adds the opt-in operators (the default set, and so synthesis, is unchanged)."""
    tree = ast.parse(code)
    sites = _sites(tree, extra)
    order = list(range(len(sites)))
    rng.shuffle(order)
    base_lines = code.splitlines()
    out: list[Mutant] = []
    seen: set[str] = set()
    for idx in order:
        if len(out) >= limit:
            break
        t2 = copy.deepcopy(tree)
        sites2 = _sites(t2, extra)
        node, kind, i = sites2[idx]
        parents = {id(c): p for p in ast.walk(t2) for c in ast.iter_child_nodes(p)}
        # skip docstrings and constants in default args
        if kind == "const" and isinstance(parents.get(id(node)), ast.arguments):
            continue
        desc = _apply(node, kind, i, parents)
        try:
            mcode = ast.unparse(t2)
        except Exception:  # noqa: BLE001 - an unparse failure just means no mutant here
            continue
        if mcode == code or mcode in seen:
            continue
        mlines = mcode.splitlines()
        if len(mlines) != len(base_lines):
            continue
        changed = [n for n, (a, b) in enumerate(zip(base_lines, mlines), 1) if a != b]
        if len(changed) != 1:
            continue
        seen.add(mcode)
        out.append(Mutant(mcode, changed[0], kind, desc))
    return out


_TEXT_OPS = [(" <= ", " < "), (" >= ", " > "), (" == ", " != "), (" != ", " == "), (" + ", " - "), (" - ", " + "),
             (" && ", " || "), (" || ", " && ")]


#: More operators for brace languages, used where mutants are executed (the bug-fixing bench's Java programs).
TEXT_OPS_EXTENDED = _TEXT_OPS + [(" < ", " <= "), (" > ", " >= "), (" * ", " / "), (" % ", " / "),
                                 ("return true;", "return false;"), ("return false;", "return true;"),
                                 (" - 1", " + 1"), (" + 1", " - 1"), ("= 0;", "= 1;"), ("++", "--")]


def text_mutants(code: str, rng: random.Random, limit: int = 2,
                 ops: list[tuple[str, str]] | None = None) -> list[Mutant]:
    """Operator swaps on single lines of brace-language code (``ops``: default ``_TEXT_OPS``; the synthesis
    strategies use them unexecuted for review examples, the bug-fixing bench executes them)."""
    lines = code.splitlines()
    sites = [(n, a, b) for n, line in enumerate(lines) for a, b in (ops or _TEXT_OPS)
             if a in line and not line.strip().startswith(("//", "/*", "*", "#"))]
    rng.shuffle(sites)
    out = []
    for n, a, b in sites[:limit]:
        new = lines[:]
        new[n] = re.sub(re.escape(a), b, new[n], count=1)
        out.append(Mutant("\n".join(new), n + 1, "text", f"`{b.strip()}` should be `{a.strip()}`"))
    return out
