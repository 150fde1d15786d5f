"""The audit log: durable appends (fsync before the verdict is returned), failing closed when the log
cannot be written (never raising, never losing a record silently), and reading back a log whose tail a
crash has torn."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pytest

from bayesguard.guard import audit
from bayesguard.guard.audit import AuditLog, AuditLogTorn, AuditRecordLost, read_audit_log, record
from bayesguard.guard.verdict import Decision, Verdict


def make(decision: Decision, action: int = 0, reason: str = "because") -> Verdict:
    return Verdict(
        decision=decision,
        action=action,
        harm_estimate=0.0 if decision is Decision.ALLOW else 0.5,
        posterior_harm=0.0,
        threshold=0.1,
        rule="test",
        reason=reason,
    )


def error_verdict(action: int | None, exc: Exception) -> Verdict:
    return Verdict(
        decision=Decision.REJECT,
        action=action,
        harm_estimate=math.nan,
        posterior_harm=math.nan,
        threshold=0.1,
        rule="test",
        reason=f"guard error, failing closed: {type(exc).__name__}: {exc}",
    )


class UnserialisableVerdict(Verdict):
    """A verdict whose serialisation fails, as a numpy scalar in ``params`` once made ``json.dumps`` fail."""

    def to_json(self) -> str:
        raise TypeError("Object of type int64 is not JSON serializable")


# ---------------------------------------------------------------------------- writing
def test_no_path_means_no_log():
    v = make(Decision.ALLOW)
    assert record(v, None, error_verdict) is v


def test_each_record_is_one_write_fsynced_before_record_returns(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    events: list[tuple[str, int]] = []
    real_write, real_fsync = os.write, os.fsync

    def spy_write(fd, data):
        events.append(("write", len(data)))
        return real_write(fd, data)

    def spy_fsync(fd):
        # the record is in the file when it is synced
        events.append(("fsync", len(path.read_bytes().splitlines())))
        return real_fsync(fd)

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    decisions = [Decision.ALLOW, Decision.REJECT, Decision.ASK]
    for i, d in enumerate(decisions):
        returned = record(make(d, i), path, error_verdict)
        assert returned.decision is d
        # before record returned: exactly one write of the whole line, then one fsync of it
        assert [e[0] for e in events] == ["write", "fsync"] * (i + 1)
        assert events[-1] == ("fsync", i + 1)
    lines = path.read_text().splitlines()
    assert [json.loads(x)["decision"] for x in lines] == [d.value for d in decisions]
    assert [e[1] for e in events if e[0] == "write"] == [len(x) + 1 for x in lines]


def test_records_are_appended_not_overwritten(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text(make(Decision.REJECT, 3).to_json() + "\n")
    record(make(Decision.ALLOW, 1), path, error_verdict)
    assert [v.action for v in read_audit_log(path)] == [3, 1]


@pytest.mark.parametrize("decision", [Decision.REJECT, Decision.ASK])
def test_unloggable_reject_or_ask_stands_with_a_warning_and_reason_suffix(tmp_path, decision):
    v = make(decision, 1, reason="harm 0.5 > C=0.1")
    with pytest.warns(AuditRecordLost, match=r"could not be appended to .*IsADirectoryError") as rec:
        out = record(v, tmp_path, error_verdict)  # a directory cannot be appended to
    assert str(tmp_path) in str(rec[0].message) and decision.value in str(rec[0].message)
    assert out.decision is decision and out.action == 1
    assert out.reason.startswith("harm 0.5 > C=0.1 ")
    assert "audit record lost" in out.reason and "IsADirectoryError" in out.reason
    assert v.reason == "harm 0.5 > C=0.1"  # the original verdict is not mutated


def test_unloggable_allow_becomes_reject_and_the_loss_is_reported(tmp_path):
    with pytest.warns(AuditRecordLost, match="REJECT verdict for action 2"):
        out = record(make(Decision.ALLOW, 2), tmp_path, error_verdict)
    assert out.decision is Decision.REJECT and out.action == 2
    assert out.reason.startswith("guard error, failing closed: IsADirectoryError")
    assert "audit record lost" in out.reason


def _read_only_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o444)
    if os.access(path, os.W_OK):  # e.g. running as root
        pytest.skip("the file stays writable for this user (root ignores permissions)")
    return path


def test_read_only_file_fails_closed(tmp_path):
    path = _read_only_file(tmp_path)
    with pytest.warns(AuditRecordLost, match="PermissionError"):
        assert record(make(Decision.ALLOW), path, error_verdict).decision is Decision.REJECT
    with pytest.warns(AuditRecordLost, match="PermissionError"):
        out = record(make(Decision.REJECT), path, error_verdict)
    assert out.decision is Decision.REJECT and "audit record lost" in out.reason


def test_permission_error_fails_closed(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "audit.jsonl"))

    monkeypatch.setattr(os, "open", refuse)
    path = tmp_path / "audit.jsonl"
    with pytest.warns(AuditRecordLost, match="PermissionError"):
        out = record(make(Decision.ALLOW), path, error_verdict)
    assert out.decision is Decision.REJECT and "audit record lost" in out.reason


def test_fsync_failure_fails_closed(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.warns(AuditRecordLost, match="Input/output error"):
        out = record(make(Decision.ALLOW), tmp_path / "audit.jsonl", error_verdict)
    assert out.decision is Decision.REJECT


def test_unserialisable_allow_is_replaced_by_a_logged_reject(tmp_path):
    path = tmp_path / "audit.jsonl"
    bad = UnserialisableVerdict(Decision.ALLOW, 1, 0.0, 0.0, 0.1, "test")
    with warnings.catch_warnings():  # the replacement is logged: nothing is lost, nothing to warn about
        warnings.simplefilter("error")
        out = record(bad, path, error_verdict)
    assert out.decision is Decision.REJECT and out.action == 1
    assert "TypeError" in out.reason and "not JSON serializable" in out.reason
    (logged,) = read_audit_log(path)
    assert logged.decision is Decision.REJECT and logged.reason == out.reason


def test_unserialisable_reject_never_raises(tmp_path):
    bad = UnserialisableVerdict(Decision.REJECT, 0, 0.5, 0.5, 0.1, "test", reason="too risky")
    with pytest.warns(AuditRecordLost, match="TypeError"):
        out = record(bad, tmp_path / "audit.jsonl", error_verdict)
    assert out.decision is Decision.REJECT and out.reason.startswith("too risky")
    assert "audit record lost: TypeError" in out.reason


def test_a_line_break_in_the_json_is_refused(tmp_path):
    class Multiline(Verdict):
        def to_json(self) -> str:
            return '{"decision":\n"ALLOW"}'

    path = tmp_path / "audit.jsonl"
    out = record(Multiline(Decision.ALLOW, 0, 0.0, 0.0, 0.1, "test"), path, error_verdict)
    assert out.decision is Decision.REJECT and "line break" in out.reason
    assert read_audit_log(path) == [out]  # only the replacement, on one line


@pytest.mark.parametrize("bad_error_verdict", ["raises", "allows"])
def test_a_broken_error_verdict_still_rejects(tmp_path, bad_error_verdict):
    def broken(action, exc):
        if bad_error_verdict == "raises":
            raise RuntimeError("error_verdict is broken too")
        return make(Decision.ALLOW, action)

    with pytest.warns(AuditRecordLost):
        out = record(make(Decision.ALLOW, 3), tmp_path, broken)
    assert out.decision is Decision.REJECT and out.action == 3
    assert "IsADirectoryError" in out.reason


def test_a_record_after_a_torn_tail_starts_on_its_own_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(make(Decision.REJECT).to_json().encode() + b"\n" + b'{"decision": "AL')
    record(make(Decision.ALLOW, 2), path, error_verdict)
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"decision": "AL' and json.loads(lines[2])["action"] == 2
    with pytest.raises(ValueError, match="line 2"):  # the torn fragment is now in the middle
        read_audit_log(path)


def test_a_record_after_nul_padding_is_read_back(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(make(Decision.REJECT).to_json().encode() + b"\n" + b"\x00" * 100)
    record(make(Decision.ALLOW, 2), path, error_verdict)
    with pytest.warns(AuditLogTorn, match="line 2"):
        log = read_audit_log(path, report=True)
    assert [v.action for v in log.verdicts] == [0, 2] and log.torn_lines == [2]


# ---------------------------------------------------------------------------- reading
def write_log(path: Path, verdicts: list[Verdict], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(v.to_json().encode() + b"\n" for v in verdicts) + tail)


def test_clean_log_reads_back_as_a_list(tmp_path):
    path = tmp_path / "audit.jsonl"
    verdicts = [make(Decision.ALLOW, 0), make(Decision.ASK, 1), make(Decision.REJECT, 2)]
    write_log(path, verdicts, tail=b"\n  \n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_audit_log(path) == verdicts  # backward compatible: a plain list
        assert read_audit_log(str(path), report=True) == AuditLog(verdicts, [])


@pytest.mark.parametrize(
    "tail",
    [b'{"decision": "ALLOW", "act', b'{"decision": "ALLOW", "act\x00\x00\x00', b"\x00" * 512, b"\xe2\x82"],
    ids=["partial-json", "partial-json-nul-padded", "nul-padding", "partial-utf8"],
)
def test_torn_last_line_is_skipped_and_reported(tmp_path, tail):
    path = tmp_path / "audit.jsonl"
    verdicts = [make(Decision.ALLOW, 0), make(Decision.REJECT, 1)]
    write_log(path, verdicts, tail=tail)
    with pytest.warns(AuditLogTorn, match=r"audit\.jsonl.*line 3") as rec:
        assert read_audit_log(path) == verdicts
    assert len(rec) == 1
    with pytest.warns(AuditLogTorn):
        log = read_audit_log(path, report=True)
    assert log.verdicts == verdicts and log.torn_lines == [3]


def test_nul_padding_around_a_record_is_stripped(tmp_path):
    path = tmp_path / "audit.jsonl"
    v = make(Decision.REJECT, 1)
    path.write_bytes(b"\x00\x00" + v.to_json().encode() + b"\x00\x00\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_audit_log(path, report=True) == AuditLog([v], [])


def test_corrupt_middle_line_raises_naming_file_and_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    good = make(Decision.ALLOW).to_json().encode()
    path.write_bytes(good + b"\n" + b'{"decision": "ALL\n' + good + b"\n")
    with pytest.raises(ValueError, match=r"audit\.jsonl: line 2 is not valid JSON"):
        read_audit_log(path)


def test_valid_json_that_is_not_a_verdict_raises_even_at_the_end(tmp_path):
    path = tmp_path / "audit.jsonl"
    write_log(path, [make(Decision.ALLOW)], tail=b'{"decision": "MAYBE"}\n')
    with pytest.raises(ValueError, match=r"line 2 is not a valid verdict record"):
        read_audit_log(path)
    write_log(path, [make(Decision.ALLOW)], tail=b"[1, 2]\n")
    with pytest.raises(ValueError, match=r"line 2: expected a JSON object"):
        read_audit_log(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_audit_log(tmp_path / "nope.jsonl")


def test_module_exports():
    assert {"AuditLog", "AuditLogTorn", "AuditRecordLost", "read_audit_log", "record"} <= set(audit.__all__)
    assert issubclass(AuditRecordLost, UserWarning) and issubclass(AuditLogTorn, UserWarning)
