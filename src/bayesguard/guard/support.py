"""The guard's support check: is the context inside what the data support? If not, ASK (never ALLOW).

A posterior only speaks for contexts like those its data came from: far outside them every theory is
extrapolating, and a harm number that looks safe there is not evidence of safety. Before deciding, the
guard compares the context with the *training contexts* and turns every ALLOW of an out-of-support
context into ASK (into REJECT for a guard built with ``ask=False``); REJECT and ASK stand (the
evaluation-only rules ``none`` and ``oracle`` keep their decisions and only carry the record). Every
verdict then carries ``support`` (the score, its threshold, what was out) and, when out, a reason such as
``context outside the data's support: z = -1e+300 (mahalanobis 3.3e+299 > threshold 2.6; outside
[-5.8, 5.9], the data's range widened by 50% each side)``.

A context is **out of support** when any of these holds:

1. a value is NaN or infinite: the family's own validation raises, so the check fails closed (REJECT
   with the error as its reason), for every family;
2. a value lies outside the training range widened by ``margin`` times the range on each side;
3. the distance score (:class:`~bayesguard.marginal.ood.MahalanobisScore` or
   :class:`~bayesguard.marginal.ood.KNNScore`) exceeds its threshold: the conformal ``(1 - fpr)``
   quantile of the leave-one-out training scores, so about a fraction ``fpr`` of contexts drawn like the
   data are ASKed (false alarms; at most ``fpr`` for kNN). It needs ``min_points`` training contexts, and
   flags nothing until ``n + 1 >= 1 / fpr``;
4. categorical contexts (a discrete causal model): the combination of values never occurs in the data.

**Where training contexts come from.** A family may offer ``support_data() -> (n, f)`` (the contexts it
holds), ``support_features(context) -> (1, f)`` or ``(n_actions, f)`` (one row shared by every action, or
one per action), ``support_names`` (the ``f`` feature names) and ``support_contexts(data) -> (n, f)``
(the contexts in a data record). Built in: a :class:`~bayesguard.theories.causal.CausalFamily` holds its
data (the context variables' columns); a :class:`~bayesguard.theories.bandit.LinearBanditFamily` holds
none (its posterior is computed outside the guard), so each arm's features are compared with the pulled
arms' features you pass as ``SupportConfig(contexts=data)``. Contexts in data the guard ``observe``s join
the support (a family that holds data refits from its new data).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from .._validate import as_float_array, positive_int, unit_interval
from ..marginal.ood import KNNScore, MahalanobisScore
from ..theories.bandit import BanditData, LinearBanditFamily
from .verdict import Decision, Verdict

#: The suggestion of an ASK made because the context is out of support.
OOD_SUGGESTION = "the context is unlike the data: ask a person, or gather data in contexts like this one"


class SupportScore(StrEnum):
    """The distance score of the support check (``"range"``: per-variable range checks only)."""

    MAHALANOBIS = "mahalanobis"
    KNN = "knn"
    RANGE = "range"


@dataclass(frozen=True)
class SupportConfig:
    """How the guard decides that a context lies outside what the data support.

    Attributes:
        enabled: True: always check (no training contexts: every context is out of support); False:
            never (non-finite values still fail closed); None (default): check when there are training
            contexts (the family holds data, or ``contexts`` are given).
        score: ``"mahalanobis"`` (default), ``"knn"`` or ``"range"`` (:class:`SupportScore`).
        fpr: the distance threshold's false-alarm rate on contexts drawn like the data, in (0, 1).
        margin: the training range of each variable is widened by ``margin`` times the range on each
            side (>= 0).
        k: the neighbour of the kNN score.
        shrinkage: the Mahalanobis covariance's shrinkage toward a scaled identity, in [0, 1].
        min_points: below this many training contexts no distance score is fitted (range checks only).
        contexts: training contexts for a family that holds no data: ``(n, f)`` or a data record the
            family reads (``BanditData``: the pulled arms' features).
    """

    enabled: bool | None = None
    score: SupportScore | str = SupportScore.MAHALANOBIS
    fpr: float = 0.01
    margin: float = 0.5
    k: int = 5
    shrinkage: float = 0.05
    min_points: int = 20
    contexts: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.enabled is not None and not isinstance(self.enabled, bool):
            raise TypeError(f"support.enabled: expected True, False or None, got {self.enabled!r}")
        try:
            object.__setattr__(self, "score", SupportScore(self.score))
        except ValueError:
            names = ", ".join(s.value for s in SupportScore)
            raise ValueError(f"support.score: expected one of {names}, got {self.score!r}") from None
        fpr = unit_interval(self.fpr, "support.fpr", open_left=True)
        if fpr >= 1.0:
            raise ValueError(f"support.fpr: expected a number in (0, 1), got {self.fpr!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float):
            raise TypeError(f"support.margin: expected a number >= 0, got {self.margin!r}")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"support.margin: expected a finite number >= 0, got {self.margin!r}")
        positive_int(self.k, "support.k")
        unit_interval(self.shrinkage, "support.shrinkage")
        positive_int(self.min_points, "support.min_points", minimum=3)


# ---------------------------------------------------------------------------- family adapters
def _causal(family: Any) -> bool:
    """A CausalFamily (its module is imported lazily: a guard on other families does not load it)."""
    module = sys.modules.get("bayesguard.theories.causal.graph_family")
    return module is not None and isinstance(family, module.CausalFamily)


def _causal_context(family: Any) -> bool:
    return _causal(family) and len(family.spec.context) > 0


def family_contexts(family: Any) -> np.ndarray | None:
    """``(n, f)`` the training contexts the family holds, or None (it holds no data)."""
    if hasattr(family, "support_data"):
        out = family.support_data()
        return None if out is None else as_float_array(out, "family.support_data()", ndim=2)
    if _causal_context(family):
        return family.data.values[:, family.spec.context_index]
    return None


def data_contexts(family: Any, data: Any) -> np.ndarray | None:
    """``(n, f)`` the contexts in a data record (None: the record holds none)."""
    if hasattr(family, "support_contexts"):
        out = family.support_contexts(data)
        return None if out is None else as_float_array(out, "family.support_contexts(data)", ndim=2)
    if isinstance(data, BanditData) and isinstance(family, LinearBanditFamily):
        return as_float_array(data.features, "data.features", ndim=2)
    if isinstance(data, np.ndarray | list | tuple):
        return as_float_array(data, "support.contexts", ndim=2)
    return None


def context_rows(family: Any, context: Any) -> np.ndarray | None:
    """``(1, f)`` (shared by every action) or ``(n_actions, f)`` feature rows of ``context``, validated
    by the family (a NaN or infinite value raises); None when the context has no features to check."""
    if hasattr(family, "support_features"):
        out = family.support_features(context)
        return None if out is None else as_float_array(out, "family.support_features(context)", ndim=2)
    if _causal_context(family):
        return family.spec.context_values(context)[None]
    if _causal(family):
        return None
    if isinstance(family, LinearBanditFamily):
        rows = as_float_array(context, "context (arm features)", ndim=2)
        if rows.shape != (family.n_actions, family.n_features):
            raise ValueError(
                f"context (arm features): expected shape ({family.n_actions}, {family.n_features}), "
                f"got {rows.shape}"
            )
        return rows
    _reject_non_finite(context)
    return None


def _reject_non_finite(context: Any) -> None:
    """Any family: a context holding a NaN or infinite number raises (the check fails closed)."""
    values = list(context.values()) if isinstance(context, Mapping) else [context]
    for v in values:
        if v is None or isinstance(v, str | bytes | bool):
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if not np.all(np.isfinite(arr)):
            raise ValueError("context: contains NaN or infinite values")


def feature_names(family: Any, n_features: int) -> list[str]:
    """Names of the ``f`` features in reasons."""
    names = getattr(family, "support_names", None)
    if names is None and _causal_context(family):
        names = family.spec.context
    if names is None:
        names = [f"x[{j}]" for j in range(n_features)]
    return [str(n) for n in names]


def categorical(family: Any) -> bool:
    """True when the context values are category codes (compared by exact match)."""
    flag = getattr(family, "support_categorical", None)
    if flag is not None:
        return bool(flag)
    return _causal_context(family) and family.spec.discrete


# ---------------------------------------------------------------------------- the fitted support
class SupportModel:
    """The support of ``train`` ``(n, f)``: widened ranges, a calibrated distance score, or (categorical)
    the combinations seen. :meth:`check` judges feature rows ``(k, f)``."""

    def __init__(self, config: SupportConfig, train: np.ndarray, names: list[str], is_categorical: bool):
        self.config, self.train, self.names = config, train, names
        self.categorical = is_categorical
        self.n = train.shape[0]
        self.scorer: MahalanobisScore | KNNScore | None = None
        if self.n == 0 or is_categorical:
            return
        low, high = train.min(axis=0), train.max(axis=0)
        self.low = low - config.margin * (high - low)
        self.high = high + config.margin * (high - low)
        enough = self.n >= config.min_points and (config.score is not SupportScore.KNN or self.n > config.k)
        if config.score is not SupportScore.RANGE and enough:
            scorer = (
                KNNScore(config.k) if config.score is SupportScore.KNN else MahalanobisScore(config.shrinkage)
            )
            self.scorer = scorer.fit(train)
            self.scorer.calibrate(config.fpr)

    def check(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """One record per row: ``in_support``, ``score``, ``threshold``, ``kind``, ``outside`` (names),
        ``n_train`` and, when out, ``reason``."""
        if rows.shape[1] != self.train.shape[1]:
            raise ValueError(
                f"context: {rows.shape[1]} features, but the training contexts have {self.train.shape[1]}"
            )
        if self.n == 0:
            why = "no training contexts: nothing in the data supports any context"
            return [self._record(False, None, None, "none", [], why) for _ in rows]
        if self.categorical:
            return [self._match(r) for r in rows]
        out_range = (rows < self.low) | (rows > self.high)  # (k, f)
        scores = self.scorer.score(rows) if self.scorer is not None else np.full(rows.shape[0], np.nan)
        thr = self.scorer.threshold if self.scorer is not None else math.inf
        kind = self.config.score.value if self.scorer is not None else "range"
        records = []
        for i, row in enumerate(rows):  # rows are one context (or one per action): a handful
            far = bool(scores[i] > thr)
            outside = [self.names[j] for j in np.flatnonzero(out_range[i])] or (
                list(self.names) if far else []
            )
            ok = not (far or out_range[i].any())
            reason = None if ok else self._reason(row, out_range[i], far, scores[i], thr)
            score = None if np.isnan(scores[i]) else float(min(scores[i], np.finfo(float).max))
            records.append(
                self._record(ok, score, None if math.isinf(thr) else float(thr), kind, outside, reason)
            )
        return records

    def _reason(self, row: np.ndarray, out: np.ndarray, far: bool, score: float, thr: float) -> str:
        shown = np.flatnonzero(out) if out.any() else np.arange(row.size)
        values = ", ".join(f"{self.names[j]} = {row[j]:.4g}" for j in shown[:4])
        values += ", ..." if shown.size > 4 else ""
        parts = []
        if far:
            parts.append(f"{self.config.score.value} score {score:.3g} > threshold {thr:.3g}")
        if out.any():
            j = int(shown[0])
            parts.append(
                f"outside [{self.low[j]:.3g}, {self.high[j]:.3g}], the data's range widened by "
                f"{100 * self.config.margin:g}% each side"
            )
        return f"context outside the data's support: {values} ({'; '.join(parts)})"

    def _match(self, row: np.ndarray) -> dict[str, Any]:
        count = int(np.all(self.train == row[None], axis=1).sum())
        if count:
            return self._record(True, float(count), 1.0, "match", [], None)
        values = ", ".join(f"{n} = {v:g}" for n, v in zip(self.names, row, strict=True))
        why = f"context outside the data's support: {values} never occurs together in the data"
        return self._record(False, 0.0, 1.0, "match", list(self.names), why)

    def _record(self, ok: bool, score, thr, kind: str, outside: list[str], reason) -> dict[str, Any]:
        fpr = self.config.fpr if kind in ("mahalanobis", "knn") else None
        rec = {"in_support": bool(ok), "score": score, "threshold": thr, "kind": kind, "fpr": fpr}
        rec.update({"outside": outside, "n_train": int(self.n), "reason": reason})
        return rec


class SupportState:
    """What a guard keeps for its support check: the config, contexts added by ``observe`` (a family
    that holds no data) and the fitted :class:`SupportModel` (refitted when the family or the contexts
    change)."""

    def __init__(self, config: SupportConfig, family: Any) -> None:
        self.config = config
        self.extra: np.ndarray | None = None
        if config.contexts is not None:
            given = data_contexts(family, config.contexts)
            if given is None:
                raise ValueError("support.contexts: expected an (n, f) array or a data record with contexts")
            self.extra = given
        self._fitted: tuple[Any, int, SupportModel] | None = None

    def observed(self, family: Any, data: Any) -> None:
        """``observe(data)`` happened: a family that holds no data adds the record's contexts (when the
        check is on for it)."""
        if family_contexts(family) is not None or not (self.extra is not None or self.config.enabled):
            return
        new = data_contexts(family, data)
        if new is not None and new.size:
            self.extra = new if self.extra is None else np.vstack([self.extra, new])

    def _training(self, family: Any) -> np.ndarray | None:
        held = family_contexts(family)
        parts = [p for p in (held, self.extra) if p is not None]
        return np.vstack(parts) if parts else None

    def model(self, family: Any, n_features: int) -> SupportModel | None:
        """The fitted support (None when the check is off), refitted when the family object or the
        observed contexts change."""
        if self.config.enabled is False:
            return None
        n_extra = 0 if self.extra is None else self.extra.shape[0]
        if self._fitted is not None and self._fitted[0] is family and self._fitted[1] == n_extra:
            return self._fitted[2]
        train = self._training(family)
        fitted = None
        if train is not None or self.config.enabled:
            train = np.zeros((0, n_features)) if train is None else train
            names = feature_names(family, train.shape[1])
            fitted = SupportModel(self.config, train, names, categorical(family))
        self._fitted = (family, n_extra, fitted)
        return fitted

    def check(self, family: Any, context: Any, n_actions: int) -> list[dict[str, Any]] | None:
        """``n_actions`` support records for ``context`` (None: nothing to check). Raises on a NaN or
        infinite context (the guard fails closed)."""
        rows = context_rows(family, context)
        if rows is None:
            return None
        model = self.model(family, rows.shape[1])
        if model is None:
            return None
        records = model.check(rows)
        if len(records) == 1:
            return records * n_actions
        if len(records) != n_actions:
            raise ValueError(f"family.support_features: expected 1 or {n_actions} rows, got {len(records)}")
        return [{**r, "reason": _per_action(family, a, r["reason"])} for a, r in enumerate(records)]


def _per_action(family: Any, action: int, reason: str | None) -> str | None:
    if reason is None:
        return None
    return f"action {action}'s {reason}" if reason.startswith("context ") else f"action {action}: {reason}"


def restrict(decision: np.ndarray, records: list[dict[str, Any]] | None, ask: bool) -> np.ndarray:
    """``decision`` ``(n_actions,)`` with every ALLOW of an out-of-support action made ASK (REJECT when
    the guard does not ask)."""
    if records is None:
        return decision
    out = decision.copy()
    for a, rec in enumerate(records):
        if not rec["in_support"] and out[a] == Decision.ALLOW.value:
            out[a] = (Decision.ASK if ask else Decision.REJECT).value
    return out


def annotate(verdicts: list[Verdict], records: list[dict[str, Any]] | None) -> list[Verdict]:
    """Each verdict with its support record; an out-of-support one leads its reason with why (and an ASK
    suggests asking a person or gathering data)."""
    if records is None:
        return verdicts
    out = []
    for v in verdicts:
        rec = records[v.action] if v.action is not None else None
        if rec is None:
            out.append(v)
            continue
        if rec["in_support"]:
            out.append(replace(v, support=rec))
            continue
        suggestion = OOD_SUGGESTION if v.decision is Decision.ASK else v.suggestion
        out.append(replace(v, support=rec, reason=f"{rec['reason']}; {v.reason}", suggestion=suggestion))
    return out
