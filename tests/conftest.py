"""What every test shares. ``_helpers.py`` (helpers for more than one test folder) is put on
``sys.path`` here: pytest's ``--import-mode=importlib`` puts no test folder there.

CI runs the hypothesis properties derandomized: the same examples on every run, so a red CI
is a regression of the code, never a new draw. Exploring new examples is the job of local runs
(and their example database, which replays every failure found until it is fixed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
