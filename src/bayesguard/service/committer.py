"""Group commit: one thread appends queued records to the audit store, many per transaction.

Each caller gets a :class:`~concurrent.futures.Future` that resolves to its :class:`~.store.Record` only
after the transaction holding it is committed (durable), so nobody is told of a record that a crash
could still lose. Records are appended in the order they were queued. A batch that fails as a whole (a
duplicate ``ref`` in one entry, say) is retried one entry at a time, so one bad entry fails only its own
caller.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from .store import AuditStore, Entry, Record

log = logging.getLogger("bayesguard.service")

#: Most records written in one transaction.
MAX_BATCH = 256


class Committer:
    """Appends :class:`~.store.Entry` objects to ``store`` from one background thread.

    Args:
        store: the audit store.
        max_batch: most entries per transaction.
    """

    def __init__(self, store: AuditStore, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = int(max_batch)
        self._queue: queue.Queue[tuple[Entry, Future[Record]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bayesguard-committer", daemon=True)
        self._closed = False
        self.batches = 0
        self.records = 0
        self._thread.start()

    def submit(self, entry: Entry) -> Future[Record]:
        """Queue ``entry``; the future gives its committed record (or the error that refused it)."""
        fut: Future[Record] = Future()
        if self._closed:
            fut.set_exception(RuntimeError("the audit committer is closed"))
            return fut
        self._queue.put((entry, fut))
        return fut

    def append(self, entry: Entry, timeout: float | None = None) -> Record:
        """Queue ``entry`` and wait until it is committed."""
        return self.submit(entry).result(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write(batch)
                    return
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[tuple[Entry, Future[Record]]]) -> None:
        try:
            records = self.store.append_many([e for e, _ in batch])
        except Exception:
            if len(batch) == 1:
                self._one(*batch[0])
                return
            for entry, fut in batch:  # isolate the entry that failed
                self._one(entry, fut)
            return
        self.batches += 1
        self.records += len(records)
        for (_, fut), rec in zip(batch, records, strict=True):
            fut.set_result(rec)

    def _one(self, entry: Entry, fut: Future[Record]) -> None:
        try:
            rec = self.store.append_many([entry])[0]
        except Exception as exc:
            log.warning("audit append refused (%s %r): %s", entry.kind, entry.ref, exc)
            fut.set_exception(exc)
            return
        self.batches += 1
        self.records += 1
        fut.set_result(rec)

    def close(self) -> None:
        """Write what is queued, then stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
