"""The hash chain of the audit store, independent of the database that holds it.

Each record's hash is ``sha256(prev_hash || canonical_json([seq, kind, created, posterior_version,
bundle_hash, payload]))`` in lowercase hex, where ``prev_hash`` is the previous record's hash (the
:data:`GENESIS` hash for record 1) and ``||`` is concatenation of the UTF-8 bytes. Canonical JSON is
``json.dumps`` with sorted keys, no spaces, UTF-8 kept as is and NaN/Infinity refused, so the same
record always hashes the same on every machine and in every backend (SQLite and PostgreSQL).

:func:`verify_chain` walks rows in ``seq`` order and names the first record that is wrong:

- ``gap in seq``: the first seq is not 1, or a seq does not follow its predecessor by one (a record was
  deleted, or seqs were renumbered);
- ``broken link``: a record's ``prev_hash`` is not its predecessor's hash (a record before it was edited
  and re-hashed, or records were reordered);
- ``hash mismatch``: a record's stored hash is not the hash of its own fields (the record, or its hash,
  was edited; or two records swapped seqs);
- ``bad payload``: a payload is not a JSON object;
- whatever the optional ``check`` reports for a record whose hash is right (the store uses it to
  cross-check its indexed columns, which are not hashed, against the payload: ``column mismatch``).

What no chain can detect by itself: removing records from the *end* (the shortened chain is still a
valid chain), or rewriting a record and re-hashing everything after it. Both are caught only against an
anchor kept elsewhere: the store's ``head()`` ``(n, hash)`` written to another system, and passed back
to ``verify(anchor=...)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

#: The ``prev_hash`` of record 1: 64 zeros (no record has this hash).
GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no whitespace, UTF-8 kept, no NaN/Infinity.

    Raises:
        ValueError: ``value`` holds NaN or an infinity (not JSON).
        TypeError: ``value`` holds something JSON cannot represent.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(
    prev_hash: str,
    seq: int,
    kind: str,
    created: str,
    posterior_version: str,
    bundle_hash: str,
    payload: Mapping[str, Any],
) -> str:
    """The SHA-256 (hex) of ``prev_hash`` followed by the canonical JSON of the record's fields."""
    body = canonical_json([seq, kind, created, posterior_version, bundle_hash, payload])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


class Head(NamedTuple):
    """The end of a chain: ``n``, the last seq (0 for an empty store), and that record's ``hash``
    (:data:`GENESIS` when empty). Keep it outside the store to detect truncation later."""

    n: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_chain` found.

    Attributes:
        ok: True when every record checked is intact (and the anchor, if given, matched).
        n: the number of records read.
        first_bad: the seq of the first bad record (None when ok); for a truncated tail (found only
            with an anchor), the first missing seq.
        reason: ``"ok"``, or what is wrong, starting with the kind of fault (``gap in seq``,
            ``broken link``, ``hash mismatch``, ``bad payload``, ``anchor``, or what ``check`` names).
    """

    ok: bool
    n: int
    first_bad: int | None
    reason: str

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.n} records"
        where = "" if self.first_bad is None else f" at seq {self.first_bad}"
        return f"audit chain broken{where}: {self.reason}"


#: The columns of a row, in the order :func:`verify_chain` reads them.
ROW_FIELDS = ("seq", "kind", "created", "posterior_version", "bundle_hash", "payload", "prev_hash", "hash")

#: ``check(seq, kind, payload, extra)``: a fault found in a record whose hash is right (a text starting
#: with the kind of fault), or None. ``payload`` is the decoded object, ``extra`` the row's fields after
#: :data:`ROW_FIELDS`.
RowCheck = Callable[[int, str, dict[str, Any], tuple[Any, ...]], str | None]


def verify_chain(
    rows: Iterable[tuple[Any, ...]], anchor: Head | None = None, check: RowCheck | None = None
) -> VerifyResult:
    """Recompute the chain over ``rows`` and name the first bad record.

    Args:
        rows: tuples in :data:`ROW_FIELDS` order (``payload`` as stored JSON text), sorted by ``seq``;
            any further fields are passed to ``check``.
        anchor: a :class:`Head` recorded earlier; if given, the record at ``anchor.n`` must exist with
            hash ``anchor.hash`` (this is what detects truncation of the tail).
        check: an extra test of each record that hashes correctly (see :data:`RowCheck`); its first
            fault is reported like any other, naming the record's seq.

    Returns:
        A :class:`VerifyResult`; the first fault found in seq order decides ``first_bad``.
    """
    prev_seq, prev_hash, n = 0, GENESIS, 0
    anchor_seen = anchor is None or anchor.n == 0
    for seq, kind, created, version, bundle, payload_text, link, stored, *extra in rows:
        n += 1
        if seq != prev_seq + 1:
            what = (
                f"seq {seq} follows seq {prev_seq}"
                if prev_seq
                else f"the first record has seq {seq}, expected 1"
            )
            return VerifyResult(False, n, seq, f"gap in seq: {what} (a record was deleted or renumbered)")
        if link != prev_hash:
            return VerifyResult(
                False,
                n,
                seq,
                f"broken link: prev_hash {str(link)[:16]}... is not the hash of seq {prev_seq} "
                f"({prev_hash[:16]}...); a record before it was altered, or records were reordered",
            )
        try:
            payload = json.loads(payload_text)
        except (TypeError, ValueError) as exc:
            return VerifyResult(False, n, seq, f"bad payload: not valid JSON ({exc})")
        if not isinstance(payload, dict):
            return VerifyResult(False, n, seq, f"bad payload: a JSON {type(payload).__name__}, not an object")
        try:
            expected = record_hash(link, seq, kind, created, version, bundle, payload)
        except (TypeError, ValueError) as exc:
            return VerifyResult(False, n, seq, f"hash mismatch: the record cannot be hashed ({exc})")
        if stored != expected:
            return VerifyResult(
                False,
                n,
                seq,
                f"hash mismatch: stored {str(stored)[:16]}..., recomputed {expected[:16]}...; the record "
                "or its hash was edited",
            )
        fault = None if check is None else check(seq, kind, payload, tuple(extra))
        if fault is not None:
            return VerifyResult(False, n, seq, fault)
        if anchor is not None and seq == anchor.n:
            if stored != anchor.hash:
                return VerifyResult(
                    False, n, seq, "anchor: the anchored record's hash differs from the one recorded"
                )
            anchor_seen = True
        prev_seq, prev_hash = seq, stored
    if not anchor_seen:
        assert anchor is not None
        return VerifyResult(
            False,
            n,
            prev_seq + 1,
            f"anchor: the chain ends at seq {prev_seq} but the anchor names seq {anchor.n}; records "
            "after it were removed (tail truncated)",
        )
    return VerifyResult(True, n, None, "ok")


__all__ = [
    "GENESIS",
    "ROW_FIELDS",
    "Head",
    "RowCheck",
    "VerifyResult",
    "canonical_json",
    "record_hash",
    "verify_chain",
]
