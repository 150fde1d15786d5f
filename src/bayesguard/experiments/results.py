"""Writing raw results: CSV rows, a JSON record of the run and the machine it ran on.

Every file is written durably: to a temporary file beside the target, flushed and fsynced, then renamed
over the target (and the directory fsynced), so a crash leaves either the old record or the new one,
never half of one. They are the records of a run.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

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
    """The checked-out commit, or None outside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def durable_open(path: str | Path, mode: str = "w", newline: str | None = None) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that the finished file is flushed, fsynced and atomically in place.

    Writes go to a hidden temporary file in the same directory; on a clean exit it is flushed, fsynced
    and renamed over ``path``; on an exception it is removed and ``path`` is left as it was.
    """
    if "w" not in mode:
        raise ValueError(f"mode: expected a writing mode ('w' or 'wb'), got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open(mode, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_csv(rows: Sequence[dict], path: str | Path) -> Path:
    """Write dict rows with the union of their keys as columns (first-seen order), durably."""
    path = Path(path)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with durable_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(record: dict, path: str | Path) -> Path:
    """Write ``record`` with a timestamp, the machine and the git commit added, durably."""
    path = Path(path)
    full = {
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git_commit": git_commit(),
        **record,
    }
    with durable_open(path, "w") as fh:
        fh.write(json.dumps(full, indent=2, default=str) + "\n")
    return path
