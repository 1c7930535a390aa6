"""Every module of bench/ imports: bench/ is outside mypy's packages, so a name moved in a
split (a workload helper renamed, a module divided) would otherwise surface only when someone
runs the benchmark or the soak (a CI run found bench/soak.py importing a name the load
generator's split had moved)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__")

# Run from the repository root, as `python -m bench.<module>` is: bench/ is not installed.
PROBE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module("bench." + name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-1).strip())
print("\\n".join(failed))
"""


def test_every_bench_module_imports() -> None:
    assert len(MODULES) > 20
    done = subprocess.run([sys.executable, "-c", PROBE, *MODULES], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", done.stdout
