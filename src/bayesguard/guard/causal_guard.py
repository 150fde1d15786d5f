"""The guard on causal world models: ALLOW, REJECT or ASK, with honest bounds and a witness.

Two model classes: linear-Gaussian (BGe; harm ``X > t`` or ``X < t``) and discrete (BDeu; harm
``X == category`` or ``!=``; the spec carries the categories). Experiments (rows with ``do()`` cells)
are scored with the interventional version of either score.

For a context ``x`` and each action ``a`` the guard computes

- the posterior-predictive harm ``P(H | x, a, D)`` and a ``1 - delta`` upper bound on it
  (:mod:`bayesguard.marginal`: Monte Carlo over ``n_theories`` posterior theories, or the amortised
  network with its validated error margin; for discrete models each sampled graph's harm integrates
  its parameters exactly, so the Monte Carlo runs over graphs);
- the cautious estimate ``max_{G in M_alpha} P(H | x, a, G, D)`` over the pool of graphs
  (:class:`~.causal_pool.GraphPool`: posterior graphs, graphs found by the harm-seeking search, and
  people's theories);
- the **cautious bound** = the larger of the two.

and decides

- **ALLOW** when the cautious bound is at or below the threshold ``C``;
- **REJECT** when even the posterior-predictive harm exceeds ``C``;
- **ASK** when plausible theories disagree: some member of ``M_alpha`` predicts harm above ``C`` and
  another at or below it. The verdict carries the split of the harm event's entropy into epistemic
  (mutual information between harm and theory) and aleatoric parts, and names the safe action whose
  outcome would best tell the members apart (largest expected information gain);
- otherwise (the theories agree, yet the bound does not clear ``C``: the Monte Carlo error alone is in
  the way) **REJECT**, saying so; more theories would decide it.

With ``search=True`` an action that would be allowed is first challenged: a Metropolis-Hastings search
on ``p(G | D) P(H | x, a, G, D)`` started from the most probable graphs looks for plausible harmful
graphs, which join the pool (and stay, for later checks) and are tested for membership of ``M_alpha``.

Any error inside a check gives REJECT with the error as reason (fail closed).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import action_index, positive_int, unit_interval
from ..datasets import Table
from ..inference.harm_search import harm_seeking_search
from ..marginal.amortised import AmortisedHarm
from ..marginal.montecarlo import monte_carlo_harm
from ..posterior import Posterior, SamplerError
from ..theories.causal.discrete_harm import DiscreteHarmModel
from ..theories.causal.family import CausalData
from ..theories.causal.harm import HarmSpec
from ..theories.causal.harm_model import GaussianHarmModel
from ..theories.causal.human import HumanTheory
from ..theories.causal.interventional import InterventionalBDeuScore, InterventionalBGeScore
from ..theories.causal.linear_gaussian import sample_parameters
from ..theories.causal.prior import StructurePrior, resolve_prior
from ..theories.causal.scores import BDeuScore, BGeScore
from ..theories.causal.structure import StructureScore
from .audit import record
from .causal_pool import GraphPool, PoolBase
from .discrete_pool import DiscreteGraphPool
from .explain import explain_paths
from .guardrail import HISTORY_SIZE
from .information import uncertainty_split
from .rules import decide
from .verdict import Decision, Verdict


class CausalGuard:
    """Guard an agent's interventions on a linear-Gaussian or discrete causal world.

    Args:
        spec: the harm event, the actions (interventions) and the context variables; a spec with
            ``categories`` makes the guard discrete (BDeu).
        data: the observations, ``(N, d)`` in the order of ``spec.names`` (integer category codes for a
            discrete spec), a validated :class:`~bayesguard.datasets.Table`, or a
            :class:`CausalData` whose ``intervened`` cells mark rows from experiments (then the score is
            the interventional BGe or BDeu score).
        posterior: a posterior over graphs, theories ``(n, d, d)`` bool: ``kind="exact"`` (every DAG,
            from :func:`~bayesguard.theories.causal.structure.exact_structure_posterior`) or
            ``"samples"`` (MCMC / GFlowNet draws).
        prior: the structure prior (default uniform over DAGs); it must be the one the posterior used.
        threshold: the harm threshold ``C``.
        alpha: the cautious set's ``alpha``.
        delta: each Monte Carlo bound fails with probability at most ``delta``.
        sampler_error: a bound on ``TV(sampler, posterior)`` that you state, added to the Monte Carlo
            bound. None (default): use the posterior's own :class:`~bayesguard.posterior.SamplerError`;
            when that is unknown, the bound is computed as if the sampler were exact and every verdict
            says it is **not guaranteed**.
        n_theories: posterior theories for the Monte Carlo marginaliser.
        n_param_draws: parameter draws per graph in the pool (linear-Gaussian; discrete graphs integrate
            their parameters exactly).
        max_members: cap on the posterior members of the cautious set that get a harm model (the most
            probable ones; graphs from search and people are always kept); None (default): no cap.
        search: challenge every action that would be allowed with the harm-seeking search.
        search_steps, search_chains, search_beta: the search's length, chains and tilt.
        human_theories: people's theories; they join the pool like any other graph (discrete: graphs).
        extra_graphs: ``(m, d, d)`` graphs found by an earlier search (e.g. :meth:`found_graphs` of the
            guard this one replaces after new data), added to the pool with source ``"search"``.
        amortised: a trained and validated :class:`AmortisedHarm`; used instead of Monte Carlo for the
            posterior-predictive harm (its bound is its validated error margin); linear-Gaussian only.
        ess: the BDeu equivalent sample size (discrete models).
        seed: random seed.
        audit_path: append every verdict to this JSON-lines file.
    """

    def __init__(
        self,
        spec: HarmSpec,
        data: np.ndarray | CausalData,
        posterior: Posterior,
        *,
        prior: StructurePrior | None = None,
        threshold: float = 0.05,
        alpha: float = 0.01,
        delta: float = 0.05,
        sampler_error: float | None = None,
        n_theories: int = 1000,
        n_param_draws: int = 16,
        max_members: int | None = None,
        search: bool = False,
        search_steps: int = 150,
        search_chains: int = 32,
        search_beta: float = 1.0,
        human_theories: Sequence[HumanTheory] = (),
        extra_graphs: np.ndarray | None = None,
        amortised: AmortisedHarm | None = None,
        ess: float = 1.0,
        seed: int = 0,
        audit_path: str | Path | None = None,
    ) -> None:
        if isinstance(data, Table):
            if tuple(data.names) != spec.names:
                raise ValueError(
                    f"data: columns {list(data.names)} differ from the spec's {list(spec.names)}"
                )
            data = data.values
        if not isinstance(data, CausalData):
            data = CausalData(np.asarray(data, dtype=np.float64))
        values = data.values
        if values.ndim != 2 or values.shape[1] != spec.d:
            raise ValueError(
                f"data: expected shape (N, {spec.d}) in the order {list(spec.names)}, got {values.shape}"
            )
        self.spec = spec
        self.threshold = unit_interval(threshold, "threshold")
        self.alpha = unit_interval(alpha, "alpha", open_left=True)
        if not isinstance(posterior, Posterior):
            raise TypeError(f"posterior: expected a Posterior, got {type(posterior).__name__}")
        self.delta = unit_interval(delta, "delta", open_left=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
        if sampler_error is None:
            self.sampler = posterior.sampler_error
        else:
            self.sampler = SamplerError(
                unit_interval(sampler_error, "sampler_error"), "stated by the user", True
            )
        self.sampler_error = self.sampler.tv if self.sampler.known else 0.0
        self.search = bool(search)
        self.search_steps = positive_int(search_steps, "search_steps")
        self.search_chains = positive_int(search_chains, "search_chains")
        if isinstance(search_beta, bool) or not isinstance(search_beta, int | float | np.number):
            raise TypeError(f"search_beta: expected a positive number, got {search_beta!r}")
        if not (math.isfinite(float(search_beta)) and float(search_beta) > 0):
            raise ValueError(f"search_beta: expected a positive finite number, got {search_beta!r}")
        self.search_beta = float(search_beta)
        seed = positive_int(seed, "seed", minimum=0)
        if audit_path is not None and not isinstance(audit_path, str | Path):
            raise TypeError(f"audit_path: expected a file path (str or Path) or None, got {audit_path!r}")
        if amortised is not None and spec.discrete:
            raise ValueError("amortised: the amortised marginaliser takes continuous contexts only")
        if amortised is not None and amortised.error_margin is None:
            raise ValueError("amortised: validate() the network first; its error margin is part of the bound")
        self.amortised = amortised
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.history: deque[Verdict] = deque(maxlen=HISTORY_SIZE)
        self.rng = np.random.default_rng(seed)

        self.data = data
        iv = data.intervened
        if spec.discrete:
            codes = _category_codes(values, spec)
            arities = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
            self.local = (
                InterventionalBDeuScore(codes, iv, arities, ess)
                if iv.any()
                else BDeuScore(codes, arities, ess)
            )
        else:
            self.local = InterventionalBGeScore(values, iv) if iv.any() else BGeScore(values)
        prior = resolve_prior(prior, spec.names, "spec")
        self.score = StructureScore(self.local, prior)
        graphs = np.asarray(posterior.theories)
        if graphs.ndim != 3 or graphs.shape[1:] != (spec.d, spec.d):
            raise ValueError(
                f"posterior: expected graphs of shape (n, {spec.d}, {spec.d}), got {graphs.shape}"
            )
        graphs = graphs.astype(bool)
        self.posterior_kind = posterior.kind
        self.guaranteed, self.assumptions = self._guarantee(posterior)
        if posterior.kind == "exact":
            lp = self.score.log_posterior(graphs)
            if not np.allclose(lp - lp.max(), posterior.log_weights - posterior.log_weights.max(), atol=1e-6):
                raise ValueError(
                    "posterior: its weights are not this data's posterior under this prior and score "
                    "(pass the prior, and for discrete data the ess, the posterior was computed with)"
                )

        # Monte Carlo theories: n i.i.d. posterior draws, each with its own parameter draw
        n_theories = positive_int(n_theories, "n_theories", minimum=2)
        if posterior.kind == "exact":
            pick = self.rng.choice(posterior.n_theories, size=n_theories, p=posterior.probs)
            self.mc_kind, self.mc_log_weights = "samples", None
        elif posterior.kind == "samples":
            size = min(n_theories, posterior.n_theories)
            pick = self.rng.choice(posterior.n_theories, size=size, replace=False)
            self.mc_kind, self.mc_log_weights = "samples", None
        else:
            pick = np.arange(posterior.n_theories)
            self.mc_kind, self.mc_log_weights = "weighted", posterior.log_weights
        cap = None if max_members is None else positive_int(max_members, "max_members")
        self.pool: PoolBase
        if spec.discrete:
            self.mc_model: GaussianHarmModel | DiscreteHarmModel = DiscreteHarmModel(
                spec, self.local, graphs[pick]
            )
            self.pool = DiscreteGraphPool(spec, self.score, self.local, alpha=self.alpha, max_members=cap)
        else:
            self.mc_model = GaussianHarmModel(
                spec, sample_parameters(self.local, graphs[pick], self.rng, spec.names)
            )
            self.pool = GraphPool(
                spec,
                self.score,
                self.local,
                values,
                iv,
                alpha=self.alpha,
                n_param_draws=positive_int(n_param_draws, "n_param_draws"),
                max_members=cap,
                rng=self.rng,
            )
        self.pool.add(graphs, "posterior")
        if extra_graphs is not None and len(extra_graphs):
            self.pool.add(np.asarray(extra_graphs, dtype=bool), "search")
        for k, theory in enumerate(human_theories):
            if not isinstance(theory, HumanTheory):
                raise TypeError(f"human_theories[{k}]: expected a HumanTheory, got {type(theory).__name__}")
            if theory.has_parameters and spec.discrete:
                raise ValueError(
                    f"human_theories[{k}]: a discrete guard takes people's graphs; drop the coefficients"
                )
            if theory.has_parameters:
                self.pool.add_point(theory.parameters(spec.names), theory.name)
            else:
                self.pool.add(theory.graph(spec.names)[None], "human", [theory.name])
        self.pool.refresh()

    def _guarantee(self, posterior: Posterior) -> tuple[bool, tuple[str, ...]]:
        """Whether ``harm_estimate`` (the larger of the cautious max and the posterior bound) is a
        guaranteed ``1 - delta`` upper bound on the posterior-predictive harm, and what it assumes."""
        model = "the model class and prior are right (a bound on the posterior-predictive harm)"
        if self.amortised is not None:
            return False, (
                model,
                "the amortised network's error margin is empirical (valid near its validation contexts)",
            )
        if posterior.kind == "weighted":
            return False, (model, "importance-weighted theories: the width uses the Kish ESS, no guarantee")
        if posterior.is_exact:
            return True, (
                model,
                f"i.i.d. draws from the exact posterior; fails with probability <= {self.delta:g}",
            )
        if not posterior.independent:
            return False, (
                model,
                f"{posterior.method} draws are correlated; the bound assumes independent draws",
            )
        if not self.sampler.known or not self.sampler.is_bound:
            return False, (
                model,
                f"{self.sampler}: the bound adds TV = {self.sampler_error:g} and would need a known bound",
            )
        return True, (
            model,
            f"independent draws from {posterior.method}, {self.sampler}; "
            f"fails with probability <= {self.delta:g}",
        )

    @property
    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "delta": self.delta,
            "sampler_error": self.sampler_error,
            "marginaliser": "amortised" if self.amortised is not None else "monte-carlo",
            "search": self.search,
        }

    # ------------------------------------------------------------------ public API
    def check(self, context: Any, action: int) -> Verdict:
        """Verdict on one action in ``context`` (``{variable: value}`` for ``spec.context``); never raises."""
        try:
            a = action_index(action, self.spec.n_actions)
            return self._record(self._check_all(context, only=a)[0])
        except Exception as exc:  # fail closed
            return self._record(self._error_verdict(action, exc))

    def check_all(self, context: Any) -> list[Verdict]:
        """Verdicts for every action; never raises."""
        try:
            verdicts = self._check_all(context)
        except Exception as exc:  # fail closed
            verdicts = [self._error_verdict(a, exc) for a in range(self.spec.n_actions)]
        return [self._record(v) for v in verdicts]

    def found_graphs(self) -> np.ndarray:
        """``(m, d, d)`` the graphs the harm-seeking search has added to the pool so far."""
        return self.pool.graphs[np.array([s == "search" for s in self.pool.source], dtype=bool)]

    # ------------------------------------------------------------------ internals
    def _harm_columns(self, harm: Any, x: np.ndarray, refused: dict[int, str]) -> np.ndarray:
        """``harm(x)`` ``(n, A)``; when a discrete model refuses some (graph, action) pairs (a context
        variable descends from what the action sets), only those actions fail: their columns are zero
        here and ``refused[action]`` says why, so the other actions are still decided."""
        try:
            return harm(x)
        except ValueError as first:
            if not self.spec.discrete:
                raise
            cols: dict[int, np.ndarray] = {}
            for a in range(self.spec.n_actions):  # only after a refusal: which actions are refused
                try:
                    cols[a] = harm(x, [a])[:, 0]
                except ValueError as exc:
                    refused.setdefault(a, str(exc))
            if not cols:
                raise first
            n = next(iter(cols.values())).size
            return np.stack([cols.get(a, np.zeros(n)) for a in range(self.spec.n_actions)], axis=1)

    def _marginal(self, x: np.ndarray, refused: dict[int, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior-predictive harm ``(A,)``, its upper bound ``(A,)`` and per-theory harm ``(n, A)``."""
        per_theory = self._harm_columns(self.mc_model.harm, x, refused)
        if self.amortised is not None:
            mean = self.amortised.predict(x)
            return mean, np.clip(mean + self.amortised.error_margin, 0.0, 1.0), per_theory
        est = monte_carlo_harm(
            per_theory,
            kind=self.mc_kind,
            log_weights=self.mc_log_weights,
            delta=self.delta,
            sampler_error=self.sampler_error,
        )
        return est.mean, est.upper, per_theory

    def _challenge(self, x: np.ndarray, action: int) -> None:
        """Harm-seeking search for ``action``; what it finds joins the pool."""
        p = self.pool.probs
        start = self.rng.choice(p.size, size=self.search_chains, p=p)
        result = harm_seeking_search(
            self.score.log_posterior,
            lambda g: self.pool.graph_harm(g, x, action),
            self.pool.graphs[start],
            n_steps=self.search_steps,
            beta=self.search_beta,
            seed=int(self.rng.integers(2**31)),
        )
        self.pool.add(result.graphs, "search")
        self.pool.refresh()

    def _check_all(self, context: Any, only: int | None = None) -> list[Verdict]:
        x = self.spec.context_values(context)
        if x.ndim != 1:
            raise ValueError(f"context: expected one context, got shape {x.shape}")
        actions = range(self.spec.n_actions) if only is None else [only]
        refused: dict[int, str] = {}
        mean, upper, per_theory = self._marginal(x, refused)
        member = self._harm_columns(self.pool.member_harm, x, refused)  # (m, A)
        if self.search:
            for a in actions:
                if a not in refused and max(member[:, a].max(), upper[a]) <= self.threshold:
                    self._challenge(x, a)
                    member = self._harm_columns(self.pool.member_harm, x, refused)
        c = self.threshold
        cautious = member.max(axis=0)
        bound = np.maximum(cautious, upper)
        decision = decide(
            bound, c, posterior=mean, member_low=member.min(axis=0), member_high=cautious
        ).decision
        decision[list(refused)] = Decision.REJECT.value  # their zero columns must never read as safe
        w_mc = np.full(per_theory.shape[0], 1.0 / per_theory.shape[0])
        if self.mc_kind == "weighted":
            w_mc = np.exp(self.mc_log_weights - self.mc_log_weights.max())
            w_mc /= w_mc.sum()
        _, epistemic, aleatoric = uncertainty_split(w_mc, per_theory)
        edge_probs = self.pool.edge_probs()
        verdicts = []
        for a in actions:  # a handful of actions; every theory-level computation above is batched
            if a in refused:
                verdicts.append(self._error_verdict(a, ValueError(refused[a])))
                continue
            wi = int(np.argmax(member[:, a]))
            w = int(self.pool.members[wi])
            d = Decision(str(decision[a]))
            suggestion = self._suggest(decision, x) if d is Decision.ASK else None
            verdicts.append(
                Verdict(
                    decision=d,
                    action=a,
                    harm_estimate=float(bound[a]),
                    posterior_harm=float(mean[a]),
                    threshold=c,
                    rule="causal-cautious",
                    params=self.params,
                    witness=w,
                    witness_theory=self._describe(w),
                    witness_prob=float(self.pool.member_probs[wi]),
                    reason=self._reason(d, a, bound[a], mean[a], upper[a], cautious[a])
                    + (" [cautious set truncated to max_members]" if self.pool.truncated else "")
                    + ("" if self.guaranteed else f" [not guaranteed: {self.assumptions[-1]}]"),
                    guaranteed=self.guaranteed,
                    assumptions=self.assumptions,
                    posterior_upper=float(upper[a]),
                    epistemic=float(epistemic[a]),
                    aleatoric=float(aleatoric[a]),
                    witness_source=self.pool.source[w],
                    suggestion=suggestion,
                    explanation=explain_paths(
                        self.pool.graphs[w],
                        self.spec.names,
                        list(self.spec.actions[a]),
                        self.spec.harm.variable,
                        edge_probs,
                    ),
                )
            )
        return verdicts

    def _suggest(self, decision: np.ndarray, x: np.ndarray) -> str:
        """The allowed action whose outcome best separates the members of ``M_alpha``."""
        safe = [e for e in range(self.spec.n_actions) if decision[e] == Decision.ALLOW.value]
        if not safe:
            return "no action is safe to try; ask a person, or observe passively"
        top = np.argsort(-self.pool.member_probs, kind="stable")[:32]
        w = self.pool.member_probs[top] / self.pool.member_probs[top].sum()
        gains = [  # candidate experiments (a handful); the theories inside are batched
            self.pool.information_gain(top, w, e, x, self.rng) for e in safe
        ]
        best = int(np.argmax(gains))
        return (
            f"try {self.spec.action_names[safe[best]]} first: expected information gain "
            f"{gains[best]:.3f} bits about which of the {top.size} plausible theories holds"
        )

    def _describe(self, w: int) -> str:
        names = self.spec.names
        edges = [f"{names[i]}->{names[j]}" for i, j in zip(*np.nonzero(self.pool.graphs[w]), strict=True)]
        label = self.pool.label[w]
        tag = f"{label}: " if self.pool.source[w] == "human" else ""
        return tag + ("{" + ", ".join(edges) + "}" if edges else "{no edges}")

    def _reason(self, d: Decision, a: int, bound: float, mean: float, upper: float, cautious: float) -> str:
        c = self.threshold
        if d is Decision.ALLOW:
            return (
                f"cautious bound {bound:.3g} <= C={c:g} (plausible theories' max {cautious:.3g}, "
                f"posterior bound {upper:.3g})"
            )
        if mean > c:
            return f"posterior-predictive harm {mean:.3g} > C={c:g}"
        if d is Decision.ASK:
            return (
                f"plausible theories disagree: their harm spans C={c:g} (max {cautious:.3g}), "
                f"posterior-predictive {mean:.3g}"
            )
        return (
            f"theories agree, but the upper bound {upper:.3g} on the posterior-predictive harm does not "
            f"clear C={c:g}; more theories would decide"
        )

    def _error_verdict(self, action: Any, exc: Exception) -> Verdict:
        act = int(action) if isinstance(action, int | np.integer) else None
        return Verdict(
            decision=Decision.REJECT,
            action=act,
            harm_estimate=math.nan,
            posterior_harm=math.nan,
            threshold=self.threshold,
            rule="causal-cautious",
            params=self.params,
            reason=f"guard error, failing closed: {type(exc).__name__}: {exc}",
        )

    def _record(self, verdict: Verdict) -> Verdict:
        verdict = record(verdict, self.audit_path, self._error_verdict)
        self.history.append(verdict)
        return verdict


def _category_codes(values: np.ndarray, spec: HarmSpec) -> np.ndarray:
    """``(N, d)`` float data -> int64 codes, checked against the spec's categories."""
    codes = np.round(values).astype(np.int64)
    if np.any(codes != values):
        col = int(np.flatnonzero((codes != values).any(axis=0))[0])
        raise ValueError(
            f"data: column {spec.names[col]!r} holds non-integer values; a discrete guard takes category "
            "codes (validate_table(..., kind='discrete') makes them)"
        )
    arities = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
    bad = (codes < 0) | (codes >= arities[None])
    if bad.any():
        col = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(
            f"data: column {spec.names[col]!r} has codes outside 0..{arities[col] - 1} "
            f"(the spec lists {arities[col]} categories: {list(spec.categories[col])})"  # type: ignore[index]
        )
    return codes
