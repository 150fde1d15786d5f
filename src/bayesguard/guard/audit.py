"""The audit log: every verdict appended to a JSON-lines file, and read back for replay.

Writing (:func:`record`): each verdict is one line, appended with a single ``write`` call on a file opened
in append mode, then flushed to disk with ``os.fsync`` before the verdict is returned, so a verdict an
agent acts on is already durable. If the previous writer crashed mid-line (the file does not end with a
newline), the new record starts on a fresh line so it is not glued to the torn fragment.

Failing closed: :func:`record` never raises. An ALLOW that cannot be logged becomes the guard's error
verdict (REJECT): an unlogged ALLOW is not an ALLOW. A REJECT or ASK that cannot be logged stands, but
the loss is reported: an :class:`AuditRecordLost` warning naming the path and the error, and a suffix on
the verdict's reason.

Reading (:func:`read_audit_log`): a torn last line (partial JSON, or NUL bytes left by a crash) is
skipped with an :class:`AuditLogTorn` warning naming the file and line; NUL padding is stripped; a
malformed line anywhere else is corruption and raises :class:`ValueError` naming the file and line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple, overload

from .verdict import Decision, Verdict

#: Bytes stripped from both ends of a line before parsing: whitespace and the NUL padding a crash can
#: leave where the file was extended but its data never reached the disk.
_PADDING = b"\x00 \t\r\n\f\v"


class AuditRecordLost(UserWarning):
    """A verdict could not be appended to the audit log (the verdict that stands says so in its reason)."""


class AuditLogTorn(UserWarning):
    """``read_audit_log`` skipped a torn line (partial JSON or NUL padding left by a crash)."""


class AuditLog(NamedTuple):
    """What :func:`read_audit_log` found when called with ``report=True``.

    Attributes:
        verdicts: the verdicts read, in file order.
        torn_lines: 1-based numbers of the lines skipped as torn (empty for a clean log).
    """

    verdicts: list[Verdict]
    torn_lines: list[int]


# ---------------------------------------------------------------------------- writing
def record(
    verdict: Verdict,
    path: str | Path | None,
    error_verdict: Callable[[int | None, Exception], Verdict],
) -> Verdict:
    """Append ``verdict`` durably to the audit log at ``path`` (if any); return the verdict that stands.

    The record is written and ``fsync``-ed before this returns. Never raises (any ``Exception`` while
    serialising or writing is caught) and never turns an error into ALLOW:

    - an ALLOW that cannot be logged becomes ``error_verdict(action, exc)`` (a REJECT), which is itself
      logged if possible; if that fails too, it stands with an :class:`AuditRecordLost` warning and a
      reason suffix;
    - a REJECT or ASK that cannot be logged stands, with an :class:`AuditRecordLost` warning naming the
      path and the error, and ``" [audit record lost: ...]"`` appended to its reason.

    Args:
        verdict: the verdict to log.
        path: the JSON-lines file, or None for no audit log.
        error_verdict: ``(action, exc) -> Verdict``, the guard's REJECT verdict for an error.
    """
    if path is None:
        return verdict
    try:
        _append(Path(path), verdict)
        return verdict
    except Exception as exc:  # fail closed: never raise out of record
        lost = exc
    if not verdict.allowed:
        _warn_lost(verdict, path, lost)
        return _mark_lost(verdict, lost)
    replacement = _reject_for(verdict, lost, error_verdict)
    try:
        _append(Path(path), replacement)
        return replacement
    except Exception as exc:  # the replacement could not be logged either
        _warn_lost(replacement, path, exc)
        return _mark_lost(replacement, exc)


def _append(path: Path, verdict: Verdict) -> None:
    """Append one JSON line for ``verdict`` with a single write, then fsync. Raises on any failure."""
    line = verdict.to_json()
    if not isinstance(line, str):
        raise TypeError(f"verdict.to_json() returned {type(line).__name__}, expected str")
    if "\n" in line or "\r" in line:
        raise ValueError("verdict.to_json() returned text with a line break; the log holds one per line")
    data = (line + "\n").encode("utf-8")
    flags = os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    try:
        fd, readable = os.open(path, flags | os.O_RDWR, 0o644), True
    except PermissionError:  # a write-only log: append without checking its tail
        fd, readable = os.open(path, flags | os.O_WRONLY, 0o644), False
    try:
        if readable and _ends_mid_line(fd):  # a crash tore the last record: do not glue this one to it
            data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to the audit log: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_mid_line(fd: int) -> bool:
    """True when the open file is non-empty and its last byte is not a newline."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    os.lseek(fd, size - 1, os.SEEK_SET)  # O_APPEND: the write still goes to the end
    return os.read(fd, 1) not in (b"\n", b"")


def _reject_for(
    verdict: Verdict, exc: Exception, error_verdict: Callable[[int | None, Exception], Verdict]
) -> Verdict:
    """The guard's error verdict for ``exc``; a REJECT copy of ``verdict`` if even that fails."""
    try:
        replacement = error_verdict(verdict.action, exc)
        if not replacement.allowed:
            return replacement
    except Exception:  # fall through to the REJECT built here
        pass
    return dataclasses.replace(
        verdict,
        decision=Decision.REJECT,
        reason=f"guard error, failing closed: {type(exc).__name__}: {exc}",
    )


def _warn_lost(verdict: Verdict, path: str | Path, exc: Exception) -> None:
    decision = getattr(verdict.decision, "value", verdict.decision)
    warnings.warn(
        f"audit record lost: the {decision} verdict for action {verdict.action} could not be appended to "
        f"{str(path)!r}: {type(exc).__name__}: {exc}",
        AuditRecordLost,
        stacklevel=4,
    )


def _mark_lost(verdict: Verdict, exc: Exception) -> Verdict:
    """``verdict`` with a reason suffix saying its audit record was lost (unchanged if that fails)."""
    try:
        suffix = f"[audit record lost: {type(exc).__name__}: {exc}]"
        reason = f"{verdict.reason} {suffix}" if verdict.reason else suffix
        return dataclasses.replace(verdict, reason=reason)
    except Exception:  # the warning has been emitted; the decision itself is unchanged
        return verdict


# ---------------------------------------------------------------------------- reading
@overload
def read_audit_log(path: str | Path, *, report: Literal[False] = ...) -> list[Verdict]: ...


@overload
def read_audit_log(path: str | Path, *, report: Literal[True]) -> AuditLog: ...


def read_audit_log(path: str | Path, *, report: bool = False) -> list[Verdict] | AuditLog:
    """Read the JSON-lines audit log written by a guard.

    A torn last line (partial JSON or NUL bytes, as a crash mid-write leaves) is skipped with an
    :class:`AuditLogTorn` warning naming the file and the line; so is a line of NUL padding alone,
    wherever it is. NUL padding around a record is stripped. Any other malformed line is corruption.

    Args:
        path: the log file.
        report: if True, return an :class:`AuditLog` ``(verdicts, torn_lines)`` instead of the list.

    Returns:
        The verdicts in file order (or, with ``report=True``, those and the torn line numbers).

    Raises:
        ValueError: a line that is not the last one is not a valid record (naming the file and line).
        OSError: the file cannot be read.
    """
    path = Path(path)
    raw_lines = path.read_bytes().split(b"\n")
    # the last line with any content (NULs count: they are the trace of a torn write)
    last = max((i for i, raw in enumerate(raw_lines) if raw.strip(b" \t\r\f\v")), default=-1)
    verdicts: list[Verdict] = []
    torn: list[int] = []
    for i, raw in enumerate(raw_lines):
        lineno = i + 1
        body = raw.strip(_PADDING)
        if not body:
            if b"\x00" in raw:  # NUL padding only: a record that never reached the disk
                torn.append(lineno)
                _warn_torn(path, lineno, "NUL padding only")
            continue
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == last:
                torn.append(lineno)
                _warn_torn(path, lineno, f"partial record ({exc})")
                continue
            raise ValueError(
                f"{path}: line {lineno} is not valid JSON ({exc}); the audit log is corrupt (a torn line "
                "is tolerated only at the end of the file)"
            ) from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: line {lineno}: expected a JSON object, got {type(data).__name__}")
        try:
            verdicts.append(Verdict.from_dict(data))
        except Exception as exc:
            raise ValueError(
                f"{path}: line {lineno} is not a valid verdict record: {type(exc).__name__}: {exc}"
            ) from exc
    if report:
        return AuditLog(verdicts, torn)
    return verdicts


def _warn_torn(path: Path, lineno: int, what: str) -> None:
    warnings.warn(
        f"audit log {str(path)!r}: skipped torn line {lineno} ({what}), left by an interrupted write",
        AuditLogTorn,
        stacklevel=3,
    )


__all__ = ["AuditLog", "AuditLogTorn", "AuditRecordLost", "read_audit_log", "record"]
