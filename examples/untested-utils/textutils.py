"""Small text helpers without any tests: the example repository of the "write tests" tutorial."""

import re
import unicodedata


def slugify(text):
    """'Hello, World!' -> 'hello-world': ASCII letters and digits joined by single dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def truncate(text, width, ellipsis="..."):
    """Cut ``text`` to at most ``width`` characters, ending with ``ellipsis`` when it was cut."""
    if width < len(ellipsis):
        raise ValueError("width is smaller than the ellipsis")
    if len(text) <= width:
        return text
    return text[: width - len(ellipsis)] + ellipsis
