"""The diagnose tests share a corpus of logs (written_logs.py, diagnose_cases.py): helpers,
not tests. pytest runs with --import-mode=importlib, which does not put test folders on
sys.path, so this folder is added here, once, for them."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
