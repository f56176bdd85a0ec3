"""The ``tanuki`` command line: one thin module per command group; ``main`` is the only error boundary."""
