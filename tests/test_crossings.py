"""The kernel-plugin crossings docs/architecture.md walks stay within the design's bounds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "crossings.py"


def test_a_state_write_crosses_at_most_3_times_and_a_turn_at_most_33(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True, cwd=tmp_path,
                         timeout=120).stdout
    counts = {label.split(" ")[0]: int(n) for label, n in re.findall(r"^(.+?): (\d+) crossings$", out, re.M)}
    assert counts.keys() == {"state", "agent"}, out
    assert counts["state"] <= 3, out
    assert counts["agent"] <= 33, out  # half of the 67 the reshaping started from
