"""Where the repository's edit suites live: the project suite and the held-out one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "cases"
HELDOUT = ROOT / "benchmarks" / "heldout" / "cases.json"
