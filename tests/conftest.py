"""What every test shares.

CI runs the hypothesis properties derandomized: the same examples on every run, so a red CI
is a regression of the code, never a new draw. Exploring new examples is the job of local runs
(and their example database, which replays every failure found until it is fixed)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
