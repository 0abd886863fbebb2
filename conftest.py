"""pytest's root configuration: the docstrings' examples of the package run as doctests (``--doctest-modules``)
beside the tests; ``python -m chainrule`` (the entry point) is not imported."""
collect_ignore = ["chainrule/__main__.py", "benchmarks", "examples", "exercises", "docs"]
