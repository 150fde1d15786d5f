"""The audit store's queries: records by filters (kind, decision, action, time), by ref, and the ASK
queue. A mix-in of :class:`~.store.AuditStore`, which provides the connections."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from ..guard.verdict import Decision
from .store_records import Record, row_to_record
from .store_schema import asks, records

#: The most rows one :meth:`RecordQueries.query` or :meth:`RecordQueries.open_asks` returns.
MAX_LIMIT = 1000
_COLS = tuple(records.c)


def _iso(name: str, value: Any) -> str | None:
    """An ISO-8601 time as the store writes ``created`` (UTC, microseconds), so text order is time order."""
    if value is None:
        return None
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected an ISO-8601 time such as '2025-01-31T12:00:00Z', got {value!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _bounded(name: str, value: Any, low: int, high: int | None) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        top = "" if high is None else f"..{high}"
        raise ValueError(f"{name}: expected an integer in {low}{top}, got {value!r}")
    return value


def _check_ref(ref: Any) -> None:
    if not isinstance(ref, str):  # None would match every record without a ref
        raise ValueError(f"ref: expected a string, got {type(ref).__name__}")


class RecordQueries:
    """The read-side queries of :class:`~.store.AuditStore`."""

    _reading: Callable[[], AbstractContextManager[Connection]]  # the store's read connection

    def _fetch(self, query: Any) -> list[Record]:
        with self._reading() as conn:
            return [row_to_record(row) for row in conn.execute(query).fetchall()]

    def by_ref(self, ref: str) -> Record | None:
        """The record whose ref is ``ref``, or None."""
        _check_ref(ref)
        found = self._fetch(select(*_COLS).where(records.c.ref == ref))
        return found[0] if found else None

    def open_asks(self, limit: int = 100) -> list[Record]:
        """The verdict records of the ASKs still open, oldest first (at most ``limit``, 1..1000)."""
        limit = _bounded("limit", limit, 1, MAX_LIMIT)
        query = select(*_COLS).join(asks, asks.c.seq == records.c.seq).where(asks.c.status == "open")
        return self._fetch(query.order_by(asks.c.seq).limit(limit))

    def count_open_asks(self) -> int:
        """How many ASKs are still open (one indexed count, whatever the queue's length)."""
        with self._reading() as conn:
            return int(
                conn.execute(select(func.count()).select_from(asks).where(asks.c.status == "open")).scalar()
            )

    def ask_status(self, ref: str) -> str | None:
        """``"open"`` or ``"answered"`` for the ASK with ``ref``; None when there is none."""
        _check_ref(ref)
        with self._reading() as conn:
            row = conn.execute(select(asks.c.status).where(asks.c.ref == ref)).first()
        return None if row is None else str(row[0])

    def _filters(
        self, kind: Any, decision: Any, action: Any, since: Any, until: Any
    ) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if kind is not None:
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"kind: expected a record kind such as 'verdict', got {kind!r}")
            where.append(records.c.kind == kind)
        if decision is not None:
            if decision not in {d.value for d in Decision}:
                raise ValueError(f"decision: expected one of {[d.value for d in Decision]}, got {decision!r}")
            where.append(records.c.decision == str(decision))
        if action is not None:
            where.append(records.c.action == _bounded("action", action, -(2**63), 2**63 - 1))
        for name, value, op in (("since", since, "__ge__"), ("until", until, "__lt__")):
            text = _iso(name, value)
            if text is not None:
                where.append(getattr(records.c.created, op)(text))
        return where

    def query(
        self,
        *,
        kind: str | None = None,
        decision: str | None = None,
        action: int | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[Record]:
        """Records matching every filter given: ``kind``; a verdict's ``decision`` (ALLOW / REJECT /
        ASK) and ``action``; ``since`` <= created < ``until`` (ISO 8601; a time without zone is UTC).
        At most ``limit`` (1..1000) after skipping ``offset``, newest first unless told otherwise.

        Raises:
            ValueError: a filter of the wrong form, naming it.
        """
        where = self._filters(kind, decision, action, since, until)
        limit = _bounded("limit", limit, 1, MAX_LIMIT)
        offset = _bounded("offset", offset, 0, None)
        if not isinstance(newest_first, bool):
            raise ValueError(f"newest_first: expected True or False, got {newest_first!r}")
        order = records.c.seq.desc() if newest_first else records.c.seq.asc()
        return self._fetch(select(*_COLS).where(*where).order_by(order).limit(limit).offset(offset))

    def count(
        self,
        *,
        kind: str | None = None,
        decision: str | None = None,
        action: int | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> int:
        """How many records match the filters (as :meth:`query`)."""
        where = self._filters(kind, decision, action, since, until)
        with self._reading() as conn:
            return int(conn.execute(select(func.count()).select_from(records).where(*where)).scalar_one())


__all__ = ["MAX_LIMIT", "RecordQueries"]
