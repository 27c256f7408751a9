"""Plugins for every pytest run in this repository, unit tests and notebooks alike.

It sits at the root (not in tests/) because a conftest's hooks reach only the tests below it,
and the notebooks nbval runs live in course/. See docs/testing.md.
"""

pytest_plugins = ["figure_check"]  # tests/figure_check.py: saved figures must not be stale
