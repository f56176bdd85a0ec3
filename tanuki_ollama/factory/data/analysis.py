"""Static measures of code, and the difficulty score the teacher ranks by.

Difficulty (0..1), stated once and used everywhere::

    difficulty = 0.35 * min(loc, 40) / 40            # size of the code in the example
               + 0.35 * min(cc - 1, 12) / 12         # cyclomatic complexity (decision points)
               + 0.15 * min(tests, 8) / 8            # number of checked behaviours (test cases)
               + 0.15 * min(tokens, 900) / 900       # length of the whole example (approx. tokens)

``loc`` = non-blank lines of the main code, ``cc`` = 1 + if/for/while/except/with/assert/comprehension/boolean
operator count (McCabe, as radon counts it for Python; for other languages a keyword count), ``tokens`` =
characters / 3.5. Rounded to 4 decimals so it is stable across platforms.
"""

from __future__ import annotations

import ast
import re

_BRANCH = (ast.If, ast.For, ast.While, ast.ExceptHandler, ast.With, ast.Assert, ast.comprehension, ast.IfExp,
           ast.AsyncFor, ast.AsyncWith, ast.match_case)
_KEYWORDS = re.compile(r"\b(if|for|while|case|catch|except|elif|&&|\|\|)\b|&&|\|\|")


def cyclomatic(code: str, language: str = "python") -> int:
    if language == "python":
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return 1
        cc = 1
        for node in ast.walk(tree):
            if isinstance(node, _BRANCH):
                cc += 1
            elif isinstance(node, ast.BoolOp):
                cc += len(node.values) - 1
        return cc
    return 1 + len(_KEYWORDS.findall(code))


def loc(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip())


def approx_tokens(text: str) -> int:
    return int(len(text) / 3.5)


def difficulty(code: str, language: str, tests: int, total_chars: int) -> float:
    score = (0.35 * min(loc(code), 40) / 40 + 0.35 * min(cyclomatic(code, language) - 1, 12) / 12
             + 0.15 * min(tests, 8) / 8 + 0.15 * min(approx_tokens("x" * total_chars), 900) / 900)
    return round(score, 4)


def loop_depth(code: str) -> tuple[int, int]:
    """(deepest loop nesting, line of the deepest loop's body start; 1-based within ``code``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0, 1
    best = (0, 1)

    def walk(node: ast.AST, depth: int) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            d = depth
            if isinstance(child, (ast.For, ast.While, ast.comprehension)):
                d = depth + 1
                line = getattr(child, "lineno", None) or getattr(getattr(child, "target", None), "lineno", 1)
                if d > best[0]:
                    best = (d, line)
            walk(child, d)

    walk(tree, 0)
    return best
