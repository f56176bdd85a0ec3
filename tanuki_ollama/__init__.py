"""Tanuki-Programmer: a family of specialised local coding agents on one small backbone, run through Ollama.

Importing this package does no I/O.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
