"""Writing raw results: CSV rows, a JSON record of the run and the machine it ran on."""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy


def machine() -> dict:
    """Where a run happened: enough to compare figures honestly."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def write_csv(rows: Sequence[dict], path: str | Path) -> Path:
    """Write dict rows with the union of their keys as columns (first-seen order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(record: dict, path: str | Path) -> Path:
    """Write ``record`` with a timestamp, the machine and the git commit added."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git_commit": git_commit(),
        **record,
    }
    path.write_text(json.dumps(full, indent=2, default=str) + "\n")
    return path
