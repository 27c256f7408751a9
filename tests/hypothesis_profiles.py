"""Hypothesis profiles for the test suite (loaded by conftest.py).

Import ``FUZZ_EXAMPLES`` in a parser's fuzz test:
``@settings(max_examples=FUZZ_EXAMPLES)``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(PROFILE)

#: Random and mutated inputs per parser in a fuzz test: 10,000 in CI, fewer by default.
FUZZ_EXAMPLES = 10_000 if PROFILE == "ci" else 500
