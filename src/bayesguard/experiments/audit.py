"""``bayesguard audit verify STORE``: recompute an audit store's hash chain; exit 1 if it is broken.

Prints ``audit chain intact: N records`` (exit status 0), or the first bad record, its seq and what is
wrong with it (exit status 1). With ``--anchor N:HASH`` (a ``head()`` kept elsewhere) a truncated tail
is detected too. ``--out DIR`` also writes the result as ``audit_verify.json``.
"""

from __future__ import annotations

import argparse

from .registry import Option, register
from .report import Result


def _anchor(text: str) -> tuple[int, str]:
    """``"N:HASH"`` -> ``(N, HASH)``."""
    n, sep, digest = text.partition(":")
    if not sep or not n.strip().isdigit() or not digest.strip():
        raise argparse.ArgumentTypeError(f"expected N:HASH (from the store's head()), got {text!r}")
    return int(n), digest.strip()


@register(
    "verify",
    group="audit",
    help="check an audit store's hash chain; name the first edited, deleted or reordered record",
    options=(
        Option("store", "the audit store: a SQLite file or sqlite:///PATH", "audit.db", str),
        Option(
            "--anchor", "N:HASH, the store's head() kept elsewhere, to detect a truncated tail", None, _anchor
        ),
        Option("--out", "directory for a JSON record, audit_verify.json (empty: write none)", "", str),
    ),
)
def verify(args: argparse.Namespace) -> Result:
    """Verify the chain; the result's exit status is 0 when intact, 1 when not."""
    from pathlib import Path

    from ..service.store import AuditStore, sqlite_path

    if not Path(sqlite_path(args.store)).is_file():  # do not create an empty store by verifying it
        raise ValueError(f"store: no audit store at {args.store!r}")
    with AuditStore(args.store) as store:
        found = store.verify(anchor=args.anchor)
        head = store.head()
    notes = [str(found)]
    if found.ok:
        notes.append(f"head {head.n}:{head.hash}")
    return Result(
        settings={"ok": found.ok, "n": found.n, "first_bad": found.first_bad, "reason": found.reason},
        record="audit_verify.json" if args.out else None,
        notes=tuple(notes),
        status=0 if found.ok else 1,
    )
