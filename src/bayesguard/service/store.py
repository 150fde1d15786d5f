"""The audit store: every verdict (and later every ASK, answer and posterior update) as a record in a
tamper-evident hash chain, in SQLite (the embedded default; PostgreSQL will sit behind the same class).

One table, plain SQL that ports to PostgreSQL (``seq`` is assigned by the store, not by an
auto-increment, so the chain's order is the same in both)::

    records(seq INTEGER PRIMARY KEY, kind TEXT, created TEXT, posterior_version TEXT,
            bundle_hash TEXT, payload TEXT, prev_hash TEXT, hash TEXT)

``payload`` is canonical JSON; ``hash`` chains each record to the one before (:mod:`.chain` says how).

Guarantees:

- :meth:`AuditStore.append` returns only after the record is committed with ``synchronous=FULL`` in WAL
  mode: a record the caller is told about survives a crash of the process or the machine.
- Appends are serialised: each runs in one ``BEGIN IMMEDIATE`` transaction (reading the head, inserting
  the next record), so concurrent writers, threads or processes, extend one valid chain. (PostgreSQL:
  the same transaction under a table lock or an advisory lock.)
- :meth:`AuditStore.verify` finds any edited, deleted or reordered record and names the first. Removing
  records from the end cannot be seen from inside the chain: keep :meth:`AuditStore.head` elsewhere and
  pass it back as ``verify(anchor=...)``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..guard.verdict import Verdict
from .chain import GENESIS, ROW_FIELDS, Head, VerifyResult, canonical_json, record_hash, verify_chain

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    posterior_version TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""
_COLUMNS = ", ".join(ROW_FIELDS)
#: Rows fetched per query while iterating (bounded memory on a long chain).
_PAGE = 1000
#: The record kind of a verdict written by :meth:`AuditStore.append_verdict`.
VERDICT_KIND = "verdict"


@dataclass(frozen=True)
class Record:
    """One stored record.

    Attributes:
        seq: its position in the chain, 1, 2, ... without gaps.
        kind: what it holds, e.g. ``"verdict"``.
        created: when it was appended, UTC, ISO 8601 with microseconds.
        posterior_version: the posterior version the record was made under.
        bundle_hash: the SHA-256 of the guard bundle that made it.
        payload: the content (a JSON object).
        prev_hash: the previous record's hash (:data:`~.chain.GENESIS` for seq 1).
        hash: this record's hash, covering ``prev_hash`` and every field above.
    """

    seq: int
    kind: str
    created: str
    posterior_version: str
    bundle_hash: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def verdict(self) -> Verdict:
        """The :class:`~bayesguard.guard.verdict.Verdict` a ``"verdict"`` record holds.

        Raises:
            ValueError: the record is of another kind.
        """
        if self.kind != VERDICT_KIND:
            raise ValueError(f"record {self.seq}: kind is {self.kind!r}, expected {VERDICT_KIND!r}")
        return Verdict.from_dict(self.payload)


def sqlite_path(path_or_url: str | Path) -> str:
    """The SQLite file named by ``path_or_url``: a path, or ``sqlite:///relative.db`` /
    ``sqlite:////absolute.db`` (SQLAlchemy's form, so the same URL works when PostgreSQL arrives).

    Raises:
        ValueError: another URL scheme, or an empty path.
    """
    text = str(path_or_url)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "sqlite":
            raise ValueError(
                f"path_or_url: expected a file path or 'sqlite:///PATH', got scheme {scheme!r} "
                "(PostgreSQL is not supported yet)"
            )
        if not rest.startswith("/"):
            raise ValueError(f"path_or_url: expected 'sqlite:///PATH' (three slashes), got {text!r}")
        text = rest[1:]
    if not text:
        raise ValueError("path_or_url: expected a file path or 'sqlite:///PATH', got an empty path")
    return text


def _row_to_record(row: tuple[Any, ...]) -> Record:
    seq, kind, created, version, bundle, payload, prev_hash, digest = row
    return Record(seq, kind, created, version, bundle, json.loads(payload), prev_hash, digest)


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    return value


class AuditStore:
    """A tamper-evident, append-only audit store in one SQLite file.

    Usable from several threads (one connection behind a lock) and several processes (each opening its
    own store on the same file). Use as a context manager, or call :meth:`close`.

    Args:
        path_or_url: the database file, as a path or ``sqlite:///PATH``; created if missing.
        timeout: seconds a writer waits for another writer's transaction before failing.
    """

    def __init__(self, path_or_url: str | Path, *, timeout: float = 30.0) -> None:
        self.path = sqlite_path(path_or_url)
        if not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        self._lock = threading.Lock()
        # isolation_level=None: no implicit transactions; every write below opens its own explicitly
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------------------------ writing
    def append(
        self, kind: str, payload: Mapping[str, Any], *, posterior_version: str, bundle_hash: str
    ) -> Record:
        """Append one record to the chain and return it once it is committed (durable).

        Args:
            kind: what the record holds, e.g. ``"verdict"``, ``"ask"``, ``"answer"``.
            payload: a JSON object (str keys; no NaN/Infinity: write those as null).
            posterior_version: the posterior version in force.
            bundle_hash: the SHA-256 of the guard bundle in force.

        Raises:
            ValueError: a field is empty or of the wrong type, or the payload is not valid JSON.
            sqlite3.OperationalError: the database stayed locked past ``timeout``, or the disk failed.
        """
        kind = _check_text("kind", kind)
        posterior_version = _check_text("posterior_version", posterior_version)
        bundle_hash = _check_text("bundle_hash", bundle_hash)
        if not isinstance(payload, Mapping):
            raise ValueError(f"payload: expected a dict (a JSON object), got {type(payload).__name__}")
        try:
            text = canonical_json(dict(payload))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload: not representable as JSON ({exc})") from exc
        body = json.loads(text)  # exactly what a reader will see (e.g. tuples become lists)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                last = db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
                prev_seq, prev_hash = (0, GENESIS) if last is None else last
                seq = prev_seq + 1
                created = datetime.now(UTC).isoformat(timespec="microseconds")
                digest = record_hash(prev_hash, seq, kind, created, posterior_version, bundle_hash, body)
                row = (seq, kind, created, posterior_version, bundle_hash, text, prev_hash, digest)
                db.execute(f"INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Record(seq, kind, created, posterior_version, bundle_hash, body, prev_hash, digest)

    def append_verdict(self, verdict: Verdict, *, posterior_version: str, bundle_hash: str) -> Record:
        """Append ``verdict`` as a ``"verdict"`` record, serialised as the JSON-lines audit log does
        (:meth:`Verdict.to_json`: NaN as null, NumPy scalars as numbers); durable when this returns."""
        if not isinstance(verdict, Verdict):
            raise ValueError(f"verdict: expected a Verdict, got {type(verdict).__name__}")
        payload = json.loads(verdict.to_json())
        return self.append(
            VERDICT_KIND, payload, posterior_version=posterior_version, bundle_hash=bundle_hash
        )

    # ------------------------------------------------------------------------------------ reading
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def get(self, seq: int) -> Record:
        """The record at ``seq``.

        Raises:
            KeyError: there is no record ``seq``.
        """
        rows = self._query(f"SELECT {_COLUMNS} FROM records WHERE seq = ?", (int(seq),))
        if not rows:
            raise KeyError(f"seq: no record {seq} in the audit store {self.path!r}")
        return _row_to_record(rows[0])

    def _rows(self, start: int = 1, kind: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Raw rows in seq order from ``start``, fetched a page at a time."""
        after = int(start) - 1
        where = "seq > ?" + ("" if kind is None else " AND kind = ?")
        while True:
            params = (after,) if kind is None else (after, kind)
            page = self._query(
                f"SELECT {_COLUMNS} FROM records WHERE {where} ORDER BY seq LIMIT {_PAGE}", params
            )
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1][0]

    def records(self, start: int = 1, *, kind: str | None = None) -> Iterator[Record]:
        """The records from seq ``start`` on, in seq order (only those of ``kind``, if given)."""
        return (_row_to_record(row) for row in self._rows(start, kind))

    def verdicts(self) -> Iterator[tuple[Record, Verdict]]:
        """Every ``"verdict"`` record with the verdict it holds, in seq order (for replay)."""
        return ((r, r.verdict()) for r in self.records(kind=VERDICT_KIND))

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM records")[0][0])

    def head(self) -> Head:
        """``(n, hash)`` of the last record (``(0, GENESIS)`` when empty). Store it outside this database
        (another system, a signed log, a ticket) to detect later truncation with ``verify(anchor=...)``."""
        rows = self._query("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1")
        return Head(0, GENESIS) if not rows else Head(int(rows[0][0]), rows[0][1])

    def verify(self, anchor: Head | tuple[int, str] | None = None) -> VerifyResult:
        """Recompute the whole chain and name the first edited, deleted or reordered record.

        Args:
            anchor: a :meth:`head` recorded earlier; with it, a tail truncated since is detected too.

        Returns:
            A :class:`~.chain.VerifyResult` ``(ok, n, first_bad, reason)``.
        """
        if anchor is not None:
            n, digest = anchor
            if not isinstance(n, int) or n < 0 or not isinstance(digest, str):
                raise ValueError(f"anchor: expected (n >= 0, hash str) from head(), got {anchor!r}")
            anchor = Head(n, digest)
        return verify_chain(self._rows(), anchor)

    # ------------------------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["VERDICT_KIND", "AuditStore", "Record", "sqlite_path"]
