"""Fixtures of the data factory tests: a small local corpus of real code, and one small dataset per module."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

PY_FILES = {
    "textutil.py": '''
        """Small text helpers."""
        import re

        VOWELS = "aeiou"


        def count_vowels(text):
            """Count the vowels in a string, ignoring case."""
            total = 0
            for ch in text.lower():
                if ch in VOWELS:
                    total += 1
            return total


        def snake_to_camel(name):
            """Convert a snake_case name to camelCase."""
            parts = name.split("_")
            head = parts[0]
            rest = [p[:1].upper() + p[1:] for p in parts[1:]]
            return head + "".join(rest)


        def is_palindrome(text):
            """Return True when the text reads the same backwards, ignoring case and spaces."""
            cleaned = "".join(c.lower() for c in text if not c.isspace())
            return cleaned == cleaned[::-1]


        def squeeze_spaces(text):
            """Collapse runs of whitespace into single spaces and strip the ends."""
            return re.sub(r"\\s+", " ", text).strip()


        def word_lengths(text):
            """Map every word of the text to its length."""
            result = {}
            for word in text.split():
                result[word] = len(word)
            return result


        def initials(name):
            """Return the upper-case initials of the words in a name."""
            letters = [w[0].upper() for w in name.split() if w]
            return "".join(letters)


        def truncate(text, width):
            """Cut the text to at most width characters, ending with '...' when cut."""
            if width < 4 or len(text) <= width:
                return text[:max(width, 0)]
            return text[:width - 3] + "..."


        def repeat_chars(text, count):
            """Repeat every character of the text count times."""
            pieces = []
            for ch in text:
                pieces.append(ch * count)
            return "".join(pieces)
    ''',
    "numutil.py": '''
        """Number helpers."""
        import math


        def clamp(value, low, high):
            """Limit value to the range [low, high]."""
            if value < low:
                return low
            if value > high:
                return high
            return value


        def digit_sum(n):
            """Sum the decimal digits of an integer (sign ignored)."""
            total = 0
            n = abs(n)
            while n > 0:
                total += n % 10
                n //= 10
            return total


        def is_prime(n):
            """Return True when n is a prime number."""
            if n < 2:
                return False
            for d in range(2, int(math.isqrt(n)) + 1):
                if n % d == 0:
                    return False
            return True


        def factorial(n):
            """Return n! for a non-negative integer n."""
            result = 1
            for k in range(2, n + 1):
                result *= k
            return result


        def collatz_steps(n):
            """Count the steps of the Collatz sequence from n down to 1."""
            steps = 0
            while n > 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                steps += 1
            return steps


        def gcd(a, b):
            """Greatest common divisor by Euclid's algorithm."""
            while b:
                a, b = b, a % b
            return abs(a)


        def sign(x):
            """Return -1, 0 or 1 by the sign of x."""
            if x > 0:
                return 1
            if x < 0:
                return -1
            return 0


        def triangle_number(n):
            """Return the sum 1 + 2 + ... + n."""
            total = 0
            for i in range(1, n + 1):
                total += i
            return total
    ''',
    "listutil.py": '''
        """List helpers."""


        def running_total(items):
            """Return the running sums of a list of numbers."""
            out = []
            acc = 0
            for x in items:
                acc += x
                out.append(acc)
            return out


        def dedupe(items):
            """Drop repeated elements, keeping the first occurrence and the order."""
            seen = []
            for x in items:
                if x not in seen:
                    seen.append(x)
            return seen


        def chunk(items, size):
            """Split a list into consecutive chunks of the given size."""
            if size <= 0:
                raise ValueError("size must be positive")
            return [items[i:i + size] for i in range(0, len(items), size)]


        def second_largest(items):
            """Return the second largest distinct value, or None."""
            values = sorted(set(items), reverse=True)
            if len(values) < 2:
                return None
            return values[1]


        def count_above(items, limit):
            """Count the elements greater than limit."""
            count = 0
            for x in items:
                if x > limit:
                    count += 1
            return count


        def rotate(items, k):
            """Rotate a list to the right by k places."""
            if not items:
                return []
            k = k % len(items)
            return items[-k:] + items[:-k]


        def pairwise_diffs(items):
            """Differences between consecutive elements."""
            result = []
            for i in range(1, len(items)):
                result.append(items[i] - items[i - 1])
            return result


        def max_run(items):
            """Length of the longest run of equal consecutive elements."""
            best = 0
            current = 0
            previous = object()
            for x in items:
                current = current + 1 if x == previous else 1
                previous = x
                best = max(best, current)
            return best
    ''',
}

JS_FILE = '''
// Return the larger of two numbers.
function maxOf(a, b) {
  if (a >= b) {
    return a;
  }
  return b;
}

// Sum an array of numbers.
function sumAll(xs) {
  let total = 0;
  for (const x of xs) {
    total = total + x;
  }
  return total;
}
'''


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in PY_FILES.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    (root / "web").mkdir(exist_ok=True)
    (root / "web" / "util.js").write_text(JS_FILE.lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, corpus):
    """Every agent, a few examples each, from the small corpus."""
    from tanuki_ollama.agents import load_roster
    from tanuki_ollama.factory.data import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("datasets")
    roster = load_roster()
    cfg = SynthConfig(agents=roster.names(), per_agent=6, sources=[str(corpus)], seed=7)
    return synthesize(cfg, out=out, roster=roster, progress=False)


@pytest.fixture
def make_corpus():
    """``make_corpus(path) -> path``: write the small corpus somewhere else (to add files to it)."""
    return write_corpus
