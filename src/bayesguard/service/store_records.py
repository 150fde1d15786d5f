"""The records of the audit store: what a caller writes (:class:`Entry`), what it reads back
(:class:`Record`), how a payload is checked and which indexed columns it implies, and the checks
:meth:`~.store.AuditStore.verify` makes of what the hash does not cover (the indexed columns and the ASK
queue)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..guard.verdict import Verdict
from .chain import canonical_json

#: The record kind of a verdict (:meth:`~.store.AuditStore.append_verdict`).
VERDICT_KIND = "verdict"
#: The record kind of a human's answer to an ASK (written only by :meth:`~.store.AuditStore.answer_ask`).
ANSWER_KIND = "answer"
#: The longest ``ref`` accepted.
MAX_REF = 256
_INT64 = 2**63


class DuplicateRef(ValueError):
    """The ``ref`` is already taken; nothing was written. ``.record`` is the record that holds it."""

    def __init__(self, ref: str, record: Record) -> None:
        super().__init__(f"ref: {ref!r} is already the ref of record {record.seq} (nothing was written)")
        self.ref = ref
        self.record = record


class AskNotFound(KeyError):
    """No open or answered ASK has this ref."""


class AskAlreadyAnswered(ValueError):
    """The ASK was answered before; ``.answer_seq`` is the seq of that answer."""

    def __init__(self, ref: str, answer_seq: int | None) -> None:
        super().__init__(f"ask_ref: the ASK {ref!r} was already answered (record {answer_seq})")
        self.ref = ref
        self.answer_seq = answer_seq


@dataclass(frozen=True)
class Record:
    """One stored record.

    Attributes:
        seq: its position in the chain, 1, 2, ... without gaps.
        kind: what it holds, e.g. ``"verdict"``, ``"answer"``.
        created: when it was appended, UTC, ISO 8601 with microseconds.
        posterior_version: the posterior version the record was made under.
        bundle_hash: the SHA-256 of the guard bundle that made it.
        payload: the content (a JSON object); a record with a ref holds it as ``payload["ref"]``.
        prev_hash: the previous record's hash (:data:`~.chain.GENESIS` for seq 1).
        hash: this record's hash, covering ``prev_hash`` and every field above.
        ref: the caller's id of the record (e.g. a request id), unique in the store, or None.
        decision: for a verdict, its decision (``"ALLOW"``, ``"REJECT"``, ``"ASK"``); else None.
        action: for a verdict, the action checked (None if none, and for other kinds).
    """

    seq: int
    kind: str
    created: str
    posterior_version: str
    bundle_hash: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    ref: str | None = None
    decision: str | None = None
    action: int | None = None

    def verdict(self) -> Verdict:
        """The :class:`~bayesguard.guard.verdict.Verdict` a ``"verdict"`` record holds (payload
        ``{"verdict": {...}, "request": {...}}``, or the verdict itself in records written before).

        Raises:
            ValueError: the record is of another kind.
        """
        if self.kind != VERDICT_KIND:
            raise ValueError(f"record {self.seq}: kind is {self.kind!r}, expected {VERDICT_KIND!r}")
        inner = self.payload.get("verdict")
        return Verdict.from_dict(inner if isinstance(inner, dict) else self.payload)

    @property
    def request(self) -> dict[str, Any] | None:
        """A verdict record's request as received (``payload["request"]``), or None."""
        inner = self.payload.get("request")
        return inner if self.kind == VERDICT_KIND and isinstance(inner, dict) else None


class Entry(NamedTuple):
    """One record to write with :meth:`~.store.AuditStore.append_many` (the arguments of ``append``).
    A verdict goes in as kind ``"verdict"`` with the payload :func:`verdict_entry` builds."""

    kind: str
    payload: Mapping[str, Any]
    posterior_version: str
    bundle_hash: str
    ref: str | None = None


def verdict_payload(verdict: Verdict, request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"verdict": <the JSON-lines log's serialisation>, "request": request or {}}``.

    Raises:
        ValueError: ``verdict`` is not a Verdict, or ``request`` not a dict.
    """
    if not isinstance(verdict, Verdict):
        raise ValueError(f"verdict: expected a Verdict, got {type(verdict).__name__}")
    if request is not None and not isinstance(request, Mapping):
        raise ValueError(f"request: expected a dict (a JSON object) or None, got {type(request).__name__}")
    return {"verdict": json.loads(verdict.to_json()), "request": dict(request or {})}


def verdict_entry(
    verdict: Verdict,
    *,
    posterior_version: str,
    bundle_hash: str,
    ref: str | None = None,
    request: Mapping[str, Any] | None = None,
) -> Entry:
    """The :class:`Entry` that :meth:`~.store.AuditStore.append_verdict` would write."""
    return Entry(VERDICT_KIND, verdict_payload(verdict, request), posterior_version, bundle_hash, ref)


def check_text(name: str, value: Any, max_len: int | None = None) -> str:
    """``value`` if it is a non-empty string without NUL (and at most ``max_len`` long)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"{name}: expected a non-empty string without NUL, got {value!r}")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{name}: expected at most {max_len} characters, got {len(value)}")
    return value


def derive(kind: str, payload: Mapping[str, Any]) -> tuple[str | None, str | None, int | None]:
    """The indexed columns ``(ref, decision, action)`` that a record's payload implies."""
    ref = payload.get("ref")
    ref = ref if isinstance(ref, str) else None
    if kind != VERDICT_KIND:
        return ref, None, None
    inner = payload.get("verdict")
    verdict = inner if isinstance(inner, dict) else payload
    decision = verdict.get("decision")
    action = verdict.get("action")
    return (
        ref,
        decision if isinstance(decision, str) else None,
        action if isinstance(action, int) and not isinstance(action, bool) else None,
    )


@dataclass(frozen=True)
class Prepared:
    """A checked record before its seq and hash: the canonical ``text``, the ``body`` readers see."""

    kind: str
    text: str
    body: dict[str, Any]
    posterior_version: str
    bundle_hash: str
    ref: str | None
    decision: str | None
    action: int | None


def _check_verdict_body(body: dict[str, Any], where: str) -> None:
    if (
        not isinstance(body.get("verdict"), dict)
        or not isinstance(body.get("request"), dict)
        or set(body) - {"verdict", "request", "ref"}
    ):
        raise ValueError(
            f"{where}payload: a verdict record's payload is {{'verdict': {{...}}, 'request': {{...}}}} "
            f"(see verdict_entry), got keys {sorted(body)}"
        )
    try:
        Verdict.from_dict(body["verdict"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{where}payload.verdict: not a verdict ({exc})") from None
    action = body["verdict"].get("action")
    if action is not None and (
        not isinstance(action, int) or isinstance(action, bool) or not -_INT64 <= action < _INT64
    ):
        raise ValueError(f"{where}payload.verdict.action: expected a 64-bit integer or null, got {action!r}")


def prepare(
    kind: Any,
    payload: Any,
    posterior_version: Any,
    bundle_hash: Any,
    ref: Any = None,
    *,
    where: str = "",
    internal: bool = False,
) -> Prepared:
    """Check one record's fields and build its canonical payload (``ref`` added as ``payload["ref"]``,
    so the hash covers it). ``where`` prefixes field names in errors (e.g. ``"entries[3]."``).

    Raises:
        ValueError: naming the bad field.
    """
    kind = check_text(f"{where}kind", kind)
    if kind == ANSWER_KIND and not internal:
        raise ValueError(f"{where}kind: {ANSWER_KIND!r} records are written by answer_ask()")
    posterior_version = check_text(f"{where}posterior_version", posterior_version)
    bundle_hash = check_text(f"{where}bundle_hash", bundle_hash)
    if not isinstance(payload, Mapping):
        raise ValueError(f"{where}payload: expected a dict (a JSON object), got {type(payload).__name__}")
    body = dict(payload)
    if ref is not None:
        ref = check_text(f"{where}ref", ref, MAX_REF)
    if "ref" in body:
        if ref is None:
            ref = check_text(f"{where}payload.ref", body["ref"], MAX_REF)
        elif body["ref"] != ref:
            raise ValueError(f"{where}payload.ref: {body['ref']!r} differs from ref {ref!r}")
    elif ref is not None:
        body["ref"] = ref
    try:
        text = canonical_json(body)
        text.encode("utf-8")  # lone surrogates cannot be stored or hashed
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}payload: not representable as JSON ({exc})") from exc
    body = json.loads(text)  # exactly what a reader will see (e.g. tuples become lists)
    if kind == VERDICT_KIND:
        _check_verdict_body(body, where)
    _, decision, action = derive(kind, body)
    return Prepared(kind, text, body, posterior_version, bundle_hash, ref, decision, action)


def row_to_record(row: Iterable[Any]) -> Record:
    """A :class:`Record` from a ``records`` row (all columns, in table order)."""
    seq, kind, created, version, bundle, payload, prev_hash, digest, ref, decision, action = row
    return Record(
        int(seq), kind, created, version, bundle, json.loads(payload), prev_hash, digest, ref, decision,
        None if action is None else int(action),
    )  # fmt: skip


class Checker:
    """:meth:`~.store.AuditStore.verify`'s checks beyond the hash, record by record: the indexed
    columns against the payload (``column mismatch``) and the ASK queue against the records (``ask
    mismatch``); then :meth:`finish` for queue rows no record accounts for.

    Args:
        ask_rows: the ``asks`` table's rows ``(ref, seq, status, answer_seq)``, read after ``n``.
        n: the last seq verified (rows and answers after it are left alone).
    """

    def __init__(self, ask_rows: Iterable[tuple[Any, ...]], n: int) -> None:
        self.asks: dict[str, tuple[int, str, int | None]] = {}
        for ref, seq, status, answer_seq in ask_rows:
            if seq > n:
                continue
            if answer_seq is not None and answer_seq > n:  # answered while the chain was being read
                status, answer_seq = "open", None
            self.asks[ref] = (int(seq), status, answer_seq)
        self.seen_ask: set[str] = set()
        self.seen_answer: set[str] = set()

    def __call__(self, seq: int, kind: str, payload: dict[str, Any], extra: tuple[Any, ...]) -> str | None:
        got = (extra[0], extra[1], extra[2])
        for name, have, want in zip(("ref", "decision", "action"), got, derive(kind, payload), strict=True):
            if have != want:
                return (
                    f"column mismatch: the {name} column holds {have!r} but the payload says {want!r} "
                    "(an indexed column was edited)"
                )
        ref, decision = got[0], got[1]
        if kind == VERDICT_KIND and decision == "ASK" and ref is not None:
            row = self.asks.get(ref)
            if row is None or row[0] != seq:
                where = "no row" if row is None else f"a row naming seq {row[0]}"
                return f"ask mismatch: the ASK {ref!r} has {where} in the asks table"
            self.seen_ask.add(ref)
        elif kind == ANSWER_KIND:
            ask = payload.get("ask")
            row = self.asks.get(ask) if isinstance(ask, str) else None
            if ask not in self.seen_ask or row is None or row[1] != "answered" or row[2] != seq:
                return f"ask mismatch: this answers {ask!r}, which the asks table does not show answered here"
            self.seen_answer.add(ask)
        return None

    def finish(self) -> tuple[int, str] | None:
        """``(seq, reason)`` of the first queue row that no record accounts for, or None."""
        faults = []
        for ref, (seq, status, answer_seq) in self.asks.items():
            if ref not in self.seen_ask:
                why = f"the asks table holds {ref!r} at seq {seq}, which is not an ASK verdict with that ref"
            elif status not in ("open", "answered") or (status == "open") != (answer_seq is None):
                why = f"the ask {ref!r} has status {status!r} with answer_seq {answer_seq!r}"
            elif status == "answered" and ref not in self.seen_answer:
                why = f"the ask {ref!r} is marked answered by seq {answer_seq}, which is no answer to it"
            else:
                continue
            faults.append((seq, f"ask mismatch: {why}"))
        return min(faults) if faults else None


__all__ = [
    "ANSWER_KIND",
    "VERDICT_KIND",
    "AskAlreadyAnswered",
    "AskNotFound",
    "DuplicateRef",
    "Entry",
    "Record",
    "verdict_entry",
]
