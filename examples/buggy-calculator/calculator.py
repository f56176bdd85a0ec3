"""A tiny calculator with one bug: the example repository of `tanuki run` (see the README)."""


def add(a, b):
    return a - b


def subtract(a, b):
    return a - b


def multiply(a, b):
    return a * b
