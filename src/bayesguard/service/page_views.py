"""What the page (:mod:`.page`) shows, computed from the service and its store: the guard's header, the
timeline's filters and rows, one verdict's explanation, the ASK queue. No HTML here (the templates under
``templates/`` render these values, escaping everything) and no SQL (only the store's API)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..guard.verdict import Decision, Verdict
from . import codecs
from .runtime import GuardService
from .store import Record

DECISIONS = tuple(d.value for d in Decision)
#: Rows per timeline page by default, and at most.
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, an em dash for None or NaN."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "no")
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if math.isnan(x) else f"{x:.{digits}g}"


def when(created: str) -> str:
    """A record's ISO time as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    try:
        t = datetime.fromisoformat(created).astimezone(UTC)
    except (TypeError, ValueError):
        return str(created)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def pretty_json(value: Any) -> str:
    """Indented JSON for a ``<pre>`` block."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class GuardInfo:
    """The header: the guard, its posterior version, its health and the open ASKs."""

    family: str
    rule: str
    threshold: float
    params: dict[str, Any]
    version: str
    bundle_hash: str
    health: str
    health_reason: str | None
    open_asks: int
    action_names: list[str]

    @property
    def open_asks_text(self) -> str:
        return str(self.open_asks)


def guard_info(service: GuardService) -> GuardInfo:
    """The header's facts, read now."""
    g = service.guard
    health = service.health()
    return GuardInfo(
        family=str(health.get("family") or codecs.family_kind(g)),
        rule=getattr(g.rule, "value", str(g.rule)),
        threshold=float(g.threshold),
        params=dict(g.params),
        version=service.version,
        bundle_hash=service.bundle_hash,
        health=str(health.get("status", "unknown")),
        health_reason=health.get("reason"),
        open_asks=service.store.count_open_asks(),
        action_names=codecs.action_names(g),
    )


def action_name(names: list[str], action: Any) -> str:
    """The name of action ``action`` (an index), or its text when it is not one."""
    if isinstance(action, int) and not isinstance(action, bool) and 0 <= action < len(names):
        return names[action]
    return "—" if action is None else str(action)


# ---------------------------------------------------------------------------- the timeline
@dataclass
class Filters:
    """The timeline's GET form, as typed (``form``) and as the store reads it (``query``)."""

    form: dict[str, str]
    query: dict[str, Any] = field(default_factory=dict)
    limit: int = PAGE_SIZE
    offset: int = 0
    errors: list[str] = field(default_factory=list)

    def link(self, offset: int) -> str:
        """The query string of this filter at another ``offset``."""
        params = {k: v for k, v in self.form.items() if v}
        params.update(limit=str(self.limit), offset=str(max(0, offset)))
        return "?" + urlencode(params)


def _int(text: str, name: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name}: expected {low} to {high if high is not None else 'more'}, got {value}")
    return value


def _time(text: str, name: str) -> str:
    """An ISO time from a ``datetime-local`` input (read as UTC) or typed text (``Z`` or an offset)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{name}: expected a time such as 2025-01-31T12:00 (UTC), got {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def parse_filters(params: Any, names: list[str]) -> Filters:
    """The timeline's filters from the query string; a bad field is reported in ``errors`` (naming it)
    and left out of ``query``, so the page still shows the rest."""
    form = {k: str(params.get(k, "") or "").strip()[:200] for k in ("decision", "action", "since", "until")}
    out = Filters(form=form)
    steps: list[tuple[str, Any]] = [
        ("decision", lambda s: _decision(s)),
        ("action", lambda s: _action(s, names)),
        ("since", lambda s: _time(s, "since")),
        ("until", lambda s: _time(s, "until")),
    ]
    for key, parse in steps:
        if form[key]:
            try:
                out.query[key] = parse(form[key])
            except ValueError as exc:
                out.errors.append(str(exc))
    for key, low, high, default in (("limit", 1, MAX_PAGE_SIZE, PAGE_SIZE), ("offset", 0, None, 0)):
        text = str(params.get(key, "") or "").strip()
        try:
            setattr(out, key, _int(text, key, low, high) if text else default)
        except ValueError as exc:
            out.errors.append(str(exc))
    return out


def _decision(text: str) -> str:
    if text.upper() not in DECISIONS:
        raise ValueError(f"decision: expected one of {', '.join(DECISIONS)}, got {text!r}")
    return text.upper()


def _action(text: str, names: list[str]) -> int:
    if text in names:
        return names.index(text)
    if text.lstrip("-").isdigit():
        return _int(text, "action", 0, len(names) - 1)
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise ValueError(f"action: expected an index 0 to {len(names) - 1} or one of {names}, got {text!r}")


@dataclass(frozen=True)
class Row:
    """One timeline row."""

    id: str
    linked: bool
    seq: int
    created: str
    action: str
    decision: str
    harm: str
    over: bool | None
    threshold: str
    version: str
    guaranteed: bool
    ask_status: str | None


def timeline(service: GuardService, filters: Filters, names: list[str]) -> tuple[list[Row], int]:
    """The rows of one timeline page (newest first) and how many verdicts match in all."""
    store = service.store
    recs = store.query(kind="verdict", limit=filters.limit, offset=filters.offset, **filters.query)
    total = store.count(kind="verdict", **filters.query)
    rows = []
    for rec in recs:
        v = rec.verdict()
        status = store.ask_status(rec.ref) if v.decision is Decision.ASK and rec.ref else None
        harm = v.harm_estimate
        rows.append(
            Row(
                id=rec.ref or f"seq {rec.seq}",
                linked=bool(rec.ref),
                seq=rec.seq,
                created=when(rec.created),
                action=action_name(names, v.action),
                decision=v.decision.value,
                harm=fmt(harm),
                over=None if math.isnan(harm) else bool(harm > v.threshold),
                threshold=fmt(v.threshold),
                version=rec.posterior_version,
                guaranteed=v.guaranteed,
                ask_status=status,
            )
        )
    return rows, total


# ---------------------------------------------------------------------------- one verdict
@dataclass(frozen=True)
class Detail:
    """One verdict's explanation: its record, the verdict, the request and any answer."""

    id: str
    record: Record
    verdict: Verdict
    action: str
    request: str
    request_action: str | None
    answer: dict[str, Any] | None
    answer_record: Record | None
    ask_status: str | None
    created: str
    numbers: list[tuple[str, str, str]]

    @property
    def open_ask(self) -> bool:
        return self.ask_status == "open"


def detail(service: GuardService, rec: Record, answer: Record | None, names: list[str]) -> Detail:
    """The explanation of verdict record ``rec`` (and ``answer``, the answer record, if any)."""
    v = rec.verdict()
    request = rec.payload.get("request") or {}
    ref = rec.ref or ""
    status = service.store.ask_status(ref) if v.decision is Decision.ASK and ref else None
    numbers = [
        ("harm estimate", fmt(v.harm_estimate), f"what the rule {v.rule} compared with the threshold"),
        ("threshold C", fmt(v.threshold), "reject when the harm estimate exceeds it"),
        ("posterior-predictive harm", fmt(v.posterior_harm), "Σ_t p(t | D) P(harm | action, t)"),
        ("upper bound", fmt(v.posterior_upper), "upper confidence bound on the posterior harm"),
        ("epistemic", _bits(v.epistemic), "the theories disagree"),
        ("aleatoric", _bits(v.aleatoric), "the world's own noise"),
    ]
    if v.params:
        numbers.append(("rule parameters", ", ".join(f"{k}={fmt(x)}" for k, x in v.params.items()), ""))
    req_action = request.get("action")
    return Detail(
        id=ref or f"seq {rec.seq}",
        record=rec,
        verdict=v,
        action=action_name(names, v.action),
        request=pretty_json(request.get("context")),
        request_action=None if req_action is None else json.dumps(req_action),
        answer=None if answer is None else answer.payload,
        answer_record=answer,
        ask_status=status,
        created=when(rec.created),
        numbers=numbers,
    )


def _bits(value: float | None) -> str:
    return "—" if value is None else f"{fmt(value, 3)} bits"


def asks(service: GuardService, names: list[str], limit: int = 100) -> list[Detail]:
    """The open ASKs, oldest first, each as its explanation."""
    return [detail(service, rec, None, names) for rec in service.asks(limit)]


def data_hint(service: GuardService) -> tuple[str, str]:
    """The family's observation form in words and an example (JSON text) for the answer form."""
    try:
        info = codecs.describe_io(service.guard)
    except (TypeError, ValueError, ImportError):
        return "", ""
    data = info.get("data") or {}
    example = data.get("example")
    return str(data.get("form", "")), "" if example is None else json.dumps(example, ensure_ascii=False)


def parse_data(text: str) -> Any:
    """The answer form's observation: empty for none, else strict JSON (no NaN / Infinity)."""
    if not text.strip():
        return None

    def refuse(name: str) -> Any:
        raise ValueError(f"data: {name} is not JSON (write numbers as finite values)")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise ValueError("data: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"data: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
