"""Word statistics for plain text: the example repository of the "add a feature" tutorial."""

import re

WORD = re.compile(r"[a-z']+")


def words(text):
    """The words of ``text``, lowercased, in order."""
    return WORD.findall(text.lower())


def word_count(text):
    """How many words ``text`` has."""
    return len(words(text))
