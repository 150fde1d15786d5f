"""The audit log: every verdict appended to a JSON-lines file, and read back for replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .verdict import Verdict


def record(
    verdict: Verdict, path: Path | None, error_verdict: Callable[[int | None, Exception], Verdict]
) -> Verdict:
    """Append ``verdict`` to ``path`` (if any). An ALLOW that cannot be logged becomes the guard's error
    verdict (an unlogged ALLOW is not an ALLOW); returns the verdict that stands."""
    if path is None:
        return verdict
    try:
        with path.open("a") as fh:
            fh.write(verdict.to_json() + "\n")
    except OSError as exc:
        if verdict.allowed:
            return error_verdict(verdict.action, exc)
    return verdict


def read_audit_log(path: str | Path) -> list[Verdict]:
    """Read the JSON-lines audit log written by a guard."""
    with Path(path).open() as fh:
        return [Verdict.from_dict(json.loads(line)) for line in fh if line.strip()]
