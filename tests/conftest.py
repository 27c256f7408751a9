"""Shared pytest setup: hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by .ci/run) runs more examples, derandomised so
a CI failure reproduces; a student's plain ``pytest`` uses the lighter "dev"
profile. Parser fuzz tests take their example count from
:data:`hypothesis_profiles.FUZZ_EXAMPLES` (10,000 in CI).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a display

import hypothesis_profiles  # noqa: E402,F401  (registers and loads the profiles)
