"""``bayesguard audit verify STORE``: recompute an audit store's hash chain; exit 1 if it is broken.

Prints ``audit chain intact: N records`` (exit status 0), or the first bad record, its seq and what is
wrong with it (exit status 1). With ``--anchor N:HASH`` (a ``head()`` kept elsewhere) a truncated tail
is detected too. ``--out DIR`` also writes the result as ``audit_verify.json``. STORE is a SQLite file
(or ``sqlite:///PATH``) or a PostgreSQL URL (``postgresql://USER:PASSWORD@HOST:PORT/DB``); verifying
creates nothing, and a password is never printed.
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
        Option(
            "store",
            "the audit store: a SQLite file, sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB",
            "audit.db",
            str,
        ),
        Option(
            "--anchor", "N:HASH, the store's head() kept elsewhere, to detect a truncated tail", None, _anchor
        ),
        Option("--out", "directory for a JSON record, audit_verify.json (empty: write none)", "", str),
    ),
)
def verify(args: argparse.Namespace) -> Result:
    """Verify the chain; the result's exit status is 0 when intact, 1 when not."""
    from pathlib import Path

    from sqlalchemy.exc import OperationalError

    from ..service.store import AuditStore
    from ..service.store_schema import masked, resolve_url

    try:
        backend, url = resolve_url(args.store)
    except ValueError as exc:
        raise ValueError(f"store: {exc}") from None
    shown = args.store if backend == "sqlite" else masked(url)  # never print a password
    if backend == "sqlite" and not Path(str(url.database)).is_file():  # verifying creates nothing
        raise ValueError(f"store: no audit store at {shown!r}")
    try:
        store = AuditStore(args.store, create=False)
    except ValueError:
        raise ValueError(f"store: no audit store at {shown!r}") from None
    except OperationalError as exc:
        why = str(exc.orig or exc).strip().splitlines()[0]
        raise ValueError(f"store: cannot open the audit store at {shown!r}: {why}") from None
    with store:
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
