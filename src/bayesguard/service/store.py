"""The audit store: every verdict, ASK, answer (and posterior update) as a record in a tamper-evident hash
chain, in SQLite (the embedded default) or PostgreSQL (by URL), through one SQLAlchemy 2 Core code path.
The same database holds the ASK queue and the service's API keys (:mod:`.store_keys`).

Tables and engines: :mod:`.store_schema`; records and their checks: :mod:`.store_records`; the hash
chain: :mod:`.chain` (records verify the same in both backends).

Guarantees:

- A write returns only after its transaction is committed durably (SQLite: WAL with
  ``synchronous=FULL``; PostgreSQL: ``synchronous_commit=on``): a record the caller is told about
  survives a crash of the process or the machine. :meth:`AuditStore.append_many` writes a batch in one
  transaction, all or nothing (group commit).
- Writes are serialised: each runs in one transaction that takes the write lock first (SQLite:
  ``BEGIN IMMEDIATE``; PostgreSQL: ``LOCK TABLE records IN EXCLUSIVE MODE``, which readers pass), then
  reads the head and inserts the next records, so concurrent writers, threads or processes, extend one
  valid chain. The ASK queue changes in the same transaction as the records that cause it.
- :meth:`AuditStore.verify` finds any edited, deleted or reordered record and names the first; it also
  cross-checks the unhashed indexed columns (``ref``, ``decision``, ``action``) against each payload and
  the ASK queue against the records. Removing records from the end cannot be seen from inside the
  chain: keep :meth:`AuditStore.head` elsewhere and pass it back as ``verify(anchor=...)``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..guard.verdict import Decision, Verdict
from .chain import GENESIS, Head, VerifyResult, record_hash, verify_chain
from .store_keys import ApiKey, ApiKeys
from .store_query import RecordQueries
from .store_records import (
    ANSWER_KIND,
    VERDICT_KIND,
    AskAlreadyAnswered,
    AskNotFound,
    Checker,
    DuplicateRef,
    Entry,
    Prepared,
    Record,
    derive,
    prepare,
    row_to_record,
    verdict_entry,
    verdict_payload,
)
from .store_schema import (
    asks,
    create_schema,
    has_schema,
    make_engine,
    masked,
    records,
    resolve_url,
    sqlite_path,
    sqlite_write_lock,
)

#: Rows fetched per query while iterating (bounded memory on a long chain).
_PAGE = 1000
_COLS = tuple(records.c)


class AuditStore(RecordQueries, ApiKeys):
    """A tamper-evident, append-only audit store, with the ASK queue and the API keys.

    Safe to use from several threads (an engine per store, writes serialised) and several processes
    (each opening its own store on the same file or database). Use as a context manager, or call
    :meth:`close`.

    Args:
        path_or_url: a SQLite file (path or ``sqlite:///PATH``; created if missing), or a PostgreSQL
            database ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (tables created if missing).
        timeout: seconds to wait for another writer's lock (and, for PostgreSQL, to connect).
        create: False to refuse (ValueError ``no audit store``) a file or database without a store.

    Attributes:
        backend: ``"sqlite"`` or ``"postgresql"``.
        url: the database URL, any password masked.
        path: the SQLite file (None for PostgreSQL).
    """

    def __init__(self, path_or_url: str | Path, *, timeout: float = 30.0, create: bool = True) -> None:
        if not isinstance(timeout, int | float) or not math.isfinite(timeout) or not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        self.backend, url = resolve_url(path_or_url)
        self.url = masked(url)
        self.path: str | None = url.database if self.backend == "sqlite" else None
        self.timeout = float(timeout)
        self._lock = threading.Lock()  # this process's writers, in turn
        self._pid = os.getpid()
        self._closed = False
        if not create and self.path is not None and not Path(self.path).is_file():
            raise ValueError(f"path_or_url: no audit store at {self.url!r}")
        self._engine = make_engine(self.backend, url, self.timeout)
        try:
            if not create:
                with self._reading() as conn:
                    if not has_schema(conn):
                        raise ValueError(f"path_or_url: no audit store at {self.url!r}")
            with self._writing(chain=False) as conn:
                create_schema(conn, derive)
        except BaseException:
            self._engine.dispose()
            raise

    # ------------------------------------------------------------------------------- connections
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the audit store {self.url} is closed")
        if os.getpid() != self._pid:  # a forked child: never reuse the parent's connections
            self._engine.dispose(close=False)
            self._lock = threading.Lock()
            self._pid = os.getpid()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        self._check_open()
        with self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _writing(self, *, chain: bool = True) -> Iterator[Connection]:
        """One write transaction holding the write lock (``chain``: the lock on ``records``)."""
        self._check_open()
        with self._lock, sqlite_write_lock(self.path, self.timeout), self._engine.connect() as conn:
            conn.execution_options(bg_write=True)  # SQLite: BEGIN IMMEDIATE
            with conn.begin():
                if self.backend == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, round(self.timeout * 1000))}")
                    if chain:
                        conn.exec_driver_sql("LOCK TABLE records IN EXCLUSIVE MODE")
                yield conn

    def _insert(self, conn: Connection, items: list[Prepared]) -> list[Record]:
        """Chain ``items`` after the head, in the caller's write transaction; open their ASKs."""
        last = conn.execute(
            select(records.c.seq, records.c.hash).order_by(records.c.seq.desc()).limit(1)
        ).first()
        prev_seq, prev_hash = (0, GENESIS) if last is None else (int(last[0]), last[1])
        refs = [p.ref for p in items if p.ref is not None]
        for i in range(0, len(refs), 500):
            query = select(*_COLS).where(records.c.ref.in_(refs[i : i + 500])).order_by(records.c.seq)
            taken = conn.execute(query.limit(1)).first()
            if taken is not None:
                held = row_to_record(taken)
                raise DuplicateRef(str(held.ref), held)
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        out: list[Record] = []
        rows: list[dict[str, Any]] = []
        opened: list[dict[str, Any]] = []
        for p in items:
            seq = prev_seq + 1
            digest = record_hash(prev_hash, seq, p.kind, created, p.posterior_version, p.bundle_hash, p.body)
            rec = Record(
                seq, p.kind, created, p.posterior_version, p.bundle_hash, p.body, prev_hash, digest,
                p.ref, p.decision, p.action,
            )  # fmt: skip
            rows.append({**{c.name: getattr(rec, c.name) for c in _COLS}, "payload": p.text})
            if p.kind == VERDICT_KIND and p.decision == Decision.ASK.value and p.ref is not None:
                opened.append({"ref": p.ref, "seq": seq, "status": "open", "answer_seq": None})
            out.append(rec)
            prev_seq, prev_hash = seq, digest
        conn.execute(insert(records), rows)
        if opened:
            conn.execute(insert(asks), opened)
        return out

    # ------------------------------------------------------------------------------------ writing
    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        posterior_version: str,
        bundle_hash: str,
        ref: str | None = None,
    ) -> Record:
        """Append one record to the chain and return it once it is committed (durable).

        Args:
            kind: what the record holds, e.g. ``"verdict"`` (payload as :func:`verdict_entry` makes it),
                ``"update"``; ``"answer"`` is reserved to :meth:`answer_ask`.
            payload: a JSON object (str keys; no NaN/Infinity: write those as null).
            posterior_version: the posterior version in force.
            bundle_hash: the SHA-256 of the guard bundle in force.
            ref: a unique id of the record (e.g. the request id), at most 256 characters; stored as
                ``payload["ref"]`` too, so the hash covers it.

        Raises:
            DuplicateRef: ``ref`` is taken (nothing is written; ``.record`` holds it).
            ValueError: a field is empty or of the wrong type, or the payload is not valid JSON.
            sqlalchemy.exc.OperationalError: the write lock was not had within ``timeout``, or the
                database failed.
        """
        return self.append_many([Entry(kind, payload, posterior_version, bundle_hash, ref)])[0]

    def append_verdict(
        self,
        verdict: Verdict,
        *,
        posterior_version: str,
        bundle_hash: str,
        ref: str | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> Record:
        """Append ``verdict`` as a ``"verdict"`` record with payload ``{"verdict": ..., "request":
        request or {}}`` (the verdict serialised as :meth:`Verdict.to_json` writes it: NaN as null);
        a verdict ASK with a ``ref`` opens an ASK in the queue. Durable when this returns."""
        payload = verdict_payload(verdict, request)
        return self.append(
            VERDICT_KIND, payload, posterior_version=posterior_version, bundle_hash=bundle_hash, ref=ref
        )

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append ``entries`` in order in ONE transaction: all are committed (durably) when this returns,
        or none is (a bad entry, or a ``ref`` already taken, writes nothing).

        Raises:
            DuplicateRef, ValueError: as :meth:`append`, the field named ``entries[i].FIELD``.
        """
        if isinstance(entries, Mapping | str | bytes) or not isinstance(entries, Iterable):
            raise ValueError(f"entries: expected a list of Entry, got {type(entries).__name__}")
        items: list[Prepared] = []
        first: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, tuple) or len(entry) not in (4, 5):
                raise ValueError(f"entries[{i}]: expected an Entry(kind, payload, posterior_version, ...)")
            item = prepare(*entry, where=f"entries[{i}].")
            if item.ref is not None:
                if item.ref in first:
                    raise ValueError(
                        f"entries[{i}].ref: {item.ref!r} is also the ref of entries[{first[item.ref]}]"
                    )
                first[item.ref] = i
            items.append(item)
        if not items:
            return []
        with self._writing() as conn:
            return self._insert(conn, items)

    # ------------------------------------------------------------------------------------ the ASK queue
    def answer_ask(
        self,
        ask_ref: str,
        payload: Mapping[str, Any],
        *,
        posterior_version: str,
        bundle_hash: str,
        ref: str | None = None,
    ) -> Record:
        """Append a record of kind ``"answer"`` with payload ``{"ask": ask_ref, **payload}`` and mark the
        ASK answered, in one transaction (of two concurrent answers exactly one wins).

        Raises:
            AskNotFound: no ASK has ref ``ask_ref``.
            AskAlreadyAnswered: it was answered before (``.answer_seq`` names the answer).
            DuplicateRef, ValueError: as :meth:`append`.
        """
        if not isinstance(ask_ref, str) or not ask_ref:
            raise ValueError(f"ask_ref: expected the ref of an ASK verdict, got {ask_ref!r}")
        if not isinstance(payload, Mapping):
            raise ValueError(f"payload: expected a dict (a JSON object), got {type(payload).__name__}")
        if payload.get("ask", ask_ref) != ask_ref:
            raise ValueError(f"payload.ask: {payload['ask']!r} differs from ask_ref {ask_ref!r}")
        item = prepare(
            ANSWER_KIND, {"ask": ask_ref, **payload}, posterior_version, bundle_hash, ref, internal=True
        )
        with self._writing() as conn:
            row = conn.execute(select(asks.c.status, asks.c.answer_seq).where(asks.c.ref == ask_ref)).first()
            if row is None:
                raise AskNotFound(f"ask_ref: no ASK with ref {ask_ref!r}")
            if row[0] != "open":
                raise AskAlreadyAnswered(ask_ref, row[1])
            [rec] = self._insert(conn, [item])
            conn.execute(
                update(asks).where(asks.c.ref == ask_ref).values(status="answered", answer_seq=rec.seq)
            )
        return rec

    # ------------------------------------------------------------------------------------ reading
    def get(self, seq: int) -> Record:
        """The record at ``seq``.

        Raises:
            KeyError: there is no record ``seq``.
        """
        found = self._fetch(select(*_COLS).where(records.c.seq == int(seq)))
        if not found:
            raise KeyError(f"seq: no record {seq} in the audit store {self.url!r}")
        return found[0]

    def _rows(
        self, start: int | None = 1, kind: str | None = None, until: int | None = None
    ) -> Iterator[Any]:
        """Raw rows in seq order from ``start`` (None: from the lowest, whatever it is) to ``until``,
        fetched a page at a time."""
        after = None if start is None else int(start) - 1
        while True:
            query = select(*_COLS)
            if after is not None:
                query = query.where(records.c.seq > after)
            if kind is not None:
                query = query.where(records.c.kind == kind)
            if until is not None:
                query = query.where(records.c.seq <= until)
            with self._reading() as conn:
                page = conn.execute(query.order_by(records.c.seq).limit(_PAGE)).fetchall()
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1][0]

    def records(self, start: int = 1, *, kind: str | None = None) -> Iterator[Record]:
        """The records from seq ``start`` on, in seq order (only those of ``kind``, if given)."""
        return (row_to_record(row) for row in self._rows(start, kind))

    def verdicts(self) -> Iterator[tuple[Record, Verdict]]:
        """Every ``"verdict"`` record with the verdict it holds, in seq order (for replay)."""
        return ((r, r.verdict()) for r in self.records(kind=VERDICT_KIND))

    def __len__(self) -> int:
        return self.count()

    def head(self) -> Head:
        """``(n, hash)`` of the last record (``(0, GENESIS)`` when empty). Store it outside this database
        (another system, a signed log, a ticket) to detect later truncation with ``verify(anchor=...)``."""
        with self._reading() as conn:
            row = conn.execute(
                select(records.c.seq, records.c.hash).order_by(records.c.seq.desc()).limit(1)
            ).first()
        return Head(0, GENESIS) if row is None else Head(int(row[0]), row[1])

    def verify(self, anchor: Head | tuple[int, str] | None = None) -> VerifyResult:
        """Recompute the whole chain and name the first edited, deleted or reordered record; check the
        indexed columns against each payload and the ASK queue against the records.

        Args:
            anchor: a :meth:`head` recorded earlier; with it, a tail truncated since is detected too.

        Returns:
            A :class:`~.chain.VerifyResult` ``(ok, n, first_bad, reason)`` over the records up to the
            head when the check began (appends made meanwhile are left to the next check).
        """
        if anchor is not None:
            n, digest = anchor
            if not isinstance(n, int) or n < 0 or not isinstance(digest, str):
                raise ValueError(f"anchor: expected (n >= 0, hash str) from head(), got {anchor!r}")
            anchor = Head(n, digest)
        end = self.head().n
        with self._reading() as conn:  # read after the head: every ASK up to it is in
            ask_rows = conn.execute(
                select(asks.c.ref, asks.c.seq, asks.c.status, asks.c.answer_seq)
            ).fetchall()
        checker = Checker(ask_rows, end)
        found = verify_chain(self._rows(None, until=end), anchor, checker)
        late = checker.finish() if found.ok else None
        return found if late is None else VerifyResult(False, found.n, late[0], late[1])

    # ------------------------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the store's connections (idempotent); later calls raise RuntimeError."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ANSWER_KIND",
    "VERDICT_KIND",
    "ApiKey",
    "AskAlreadyAnswered",
    "AskNotFound",
    "AuditStore",
    "DuplicateRef",
    "Entry",
    "Record",
    "sqlite_path",
    "verdict_entry",
]
