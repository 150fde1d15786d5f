"""The edge-flip kernel is exact: its transition matrix on the 25 DAGs of d = 3, built from the kernel's
own move table and acceptance rule, satisfies detailed balance to float precision for a BGe target and
a harm-tilted one, and its ``step`` proposes each move with the stated probability. The driver runs any
kernel; its ESS matches theory on independent and AR(1) draws."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import pytest
from scipy.stats import chisquare

from bayesguard.graphs.dag import enumerate_dags, is_acyclic
from bayesguard.graphs.keys import graph_keys
from bayesguard.inference.driver import (
    advance,
    chain_diagnostics,
    effective_sample_size,
    run_chains,
    split_r_hat,
)
from bayesguard.inference.kernels import (
    DecomposableTarget,
    DensityTarget,
    acceptance_probability,
    as_target,
    edge_flip,
    move_table,
    proposal_probability,
    tilted_target,
    transitions,
)
from bayesguard.inference.mcmc import structure_mcmc
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore

DAGS3 = enumerate_dags(3)


def harm(g: np.ndarray) -> np.ndarray:
    return 0.05 + 0.9 * g[:, 0, 2]  # "x0 -> x2 is harmful"


@pytest.fixture(scope="module")
def score() -> StructureScore:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(40, 3))
    x[:, 1] += 0.8 * x[:, 0]
    x[:, 2] += 0.6 * x[:, 1] - 0.5 * x[:, 0]
    return StructureScore(BGeScore(x))


def targets(score: StructureScore) -> dict[str, object]:
    return {
        "bge-decomposable": DecomposableTarget(score),
        "bge-callable": DensityTarget(score.log_posterior),
        "tilted": tilted_target(score.log_posterior, harm, beta=2.0),
    }


def index_of(graphs: np.ndarray) -> np.ndarray:
    """Position of each graph in ``DAGS3``."""
    keys = graph_keys(DAGS3)
    order = np.argsort(keys)
    return order[np.searchsorted(keys[order], graph_keys(graphs))]


def kernel_matrix(target: object) -> np.ndarray:
    """The 25 x 25 transition matrix from the kernel's :func:`transitions`."""
    t = np.zeros((25, 25))
    for a, g in enumerate(DAGS3):
        graphs, prob = transitions(g, target)
        np.add.at(t[a], index_of(graphs), prob)
        t[a, a] += 1.0 - prob.sum()
    return t


def defined_matrix(log_pi: np.ndarray) -> np.ndarray:
    """The same matrix from the definition: each listed move with its proposal probability, accepted with
    ``min(1, pi(G') / pi(G))``, cyclic moves and rejections left on the diagonal."""
    t = np.zeros((25, 25))
    for a, g in enumerate(DAGS3):
        proposed, q, acyclic, _, _ = move_table(g)
        assert np.array_equal(acyclic, is_acyclic(proposed))
        for b, qb in zip(index_of(proposed[acyclic]), q[acyclic], strict=True):
            t[a, b] += qb * min(1.0, np.exp(log_pi[b] - log_pi[a]))
        t[a, a] = 1.0 - t[a].sum()
    return t


# ---------------------------------------------------------------------------- exact balance
@pytest.mark.parametrize("name", ["bge-decomposable", "bge-callable", "tilted"])
def test_transition_matrix_satisfies_detailed_balance(score, name):
    target = as_target(targets(score)[name])
    log_pi = target.log_density(target.terms(DAGS3))
    pi = np.exp(log_pi - log_pi.max())
    pi /= pi.sum()
    t = kernel_matrix(target)
    np.testing.assert_allclose(t, defined_matrix(log_pi), rtol=1e-12, atol=1e-15)
    assert np.all(t >= 0) and np.allclose(t.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    flow = pi[:, None] * t
    np.testing.assert_allclose(flow, flow.T, rtol=1e-12, atol=0)
    np.testing.assert_allclose(pi @ t, pi, rtol=1e-12, atol=0)
    # each DAG has 6 moves; the off-diagonal support is symmetric and holds only one-move neighbours
    off = (t > 0) & ~np.eye(25, dtype=bool)
    assert np.array_equal(off, off.T) and off.sum(axis=1).max() <= 6


def test_tilted_target_is_the_posterior_times_harm_to_the_beta(score):
    target = tilted_target(score.log_posterior, harm, beta=3.0)
    np.testing.assert_allclose(
        target.log_density(target.terms(DAGS3)), score.log_posterior(DAGS3) + 3.0 * np.log(harm(DAGS3))
    )
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            tilted_target(score.log_posterior, harm, beta=bad)


def test_hard_constraints_keep_balance_on_the_support(score):
    prior = StructurePrior.make(3, required=[(0, 1)], forbidden=[(2, 0)])
    target = DecomposableTarget(StructureScore(score.scorer, prior))
    log_pi = target.log_density(target.terms(DAGS3))
    support = np.isfinite(log_pi)
    pi = np.where(support, np.exp(log_pi - log_pi[support].max()), 0.0)
    pi /= pi.sum()
    t = np.zeros((25, 25))
    for a in np.flatnonzero(support):
        graphs, prob = transitions(DAGS3[a], target)
        np.add.at(t[a], index_of(graphs), prob)
        t[a, a] += 1.0 - prob.sum()
    assert np.all(t[support][:, ~support] == 0)  # never leaves the support
    flow = pi[:, None] * t
    np.testing.assert_allclose(flow, flow.T, rtol=1e-12, atol=0)
    np.testing.assert_allclose(pi @ t, pi, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- step vs. definition
def test_step_proposes_each_move_with_the_stated_probability(score):
    g = np.zeros((3, 3), dtype=bool)
    g[0, 1] = g[1, 2] = True  # 0 -> 1 -> 2: one of its six moves (2 -> 0) closes a cycle
    proposed, q, acyclic, _, _ = move_table(g)
    assert np.allclose(q, proposal_probability(3)) and np.isclose(q.sum(), 1.0) and (~acyclic).sum() == 1
    kernel = edge_flip(DecomposableTarget(score))
    k = 60_000
    state = kernel.init(np.broadcast_to(g, (k, 3, 3)))
    new, info = kernel.step(np.random.default_rng(5), state)
    move_keys = graph_keys(proposed)
    got = graph_keys(info.proposed)
    assert np.isin(got, move_keys).all()
    counts = np.array([(got == key).sum() for key in move_keys])
    assert chisquare(counts, q * k).pvalue > 1e-3
    se = np.sqrt(q * (1 - q) / k)
    assert np.all(np.abs(counts / k - q) < 4.5 * se)
    # scored iff acyclic; moved iff accepted, and then to the proposal
    assert np.array_equal(info.scored, np.isin(got, move_keys[acyclic]))
    assert not info.accepted[~info.scored].any()
    np.testing.assert_array_equal(new.adj[info.accepted], info.proposed[info.accepted])
    np.testing.assert_array_equal(new.adj[~info.accepted], state.adj[~info.accepted])
    np.testing.assert_allclose(new.log_density, score.log_posterior(new.adj), rtol=1e-12)
    # where each chain went matches the row of the transition matrix
    row = kernel_matrix(DecomposableTarget(score))[index_of(g[None])[0]]
    freq = np.bincount(index_of(new.adj), minlength=25) / k
    assert np.all(np.abs(freq - row) < 4.5 * np.sqrt(row * (1 - row) / k) + 1e-12)


def test_many_chains_reach_the_target_distribution(score):
    target = tilted_target(score.log_posterior, harm, beta=1.5)
    kernel = edge_flip(target)
    log_pi = target.log_density(target.terms(DAGS3))
    pi = np.exp(log_pi - log_pi.max())
    pi /= pi.sum()
    k = 4000
    state, _ = advance(kernel, kernel.init(np.zeros((k, 3, 3), bool)), np.random.default_rng(2), 80)
    freq = np.bincount(index_of(state.adj), minlength=25) / k
    assert np.all(np.abs(freq - pi) < 5 * np.sqrt(pi * (1 - pi) / k) + 1e-3)


def test_acceptance_probability_edge_cases():
    cur = np.array([0.0, 0.0, -np.inf, 1.0, 0.0])
    new = np.array([-1.0, 2.0, -3.0, -np.inf, np.nan])
    np.testing.assert_allclose(acceptance_probability(cur, new), [np.exp(-1.0), 1.0, 1.0, 0.0, 0.0])


def test_kernel_errors_name_the_field(score):
    kernel = edge_flip(score)  # a decomposable score becomes a DecomposableTarget
    assert isinstance(kernel.target, DecomposableTarget)
    with pytest.raises(ValueError, match="position"):
        kernel.init(np.ones((2, 3, 3), dtype=bool))
    with pytest.raises(ValueError, match="position"):
        kernel.init(np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="log_density"):
        edge_flip(lambda g: np.zeros(1)).init(np.zeros((2, 3, 3), dtype=bool))
    with pytest.raises(TypeError, match="log_density"):
        edge_flip(42)
    with pytest.raises(ValueError, match="adj"):
        move_table(np.zeros((2, 3, 3), dtype=bool))


# ---------------------------------------------------------------------------- driver and diagnostics
class GaussState(NamedTuple):
    position: np.ndarray
    log_density: np.ndarray


class GaussInfo(NamedTuple):
    accepted: np.ndarray


class AR1Kernel:
    """Exact AR(1) moves ``x' = rho x + sqrt(1 - rho^2) eps``, leaving N(0, 1) invariant."""

    def __init__(self, rho: float) -> None:
        self.rho = rho

    def step(self, rng: np.random.Generator, state: GaussState) -> tuple[GaussState, GaussInfo]:
        x = self.rho * state.position + np.sqrt(1 - self.rho**2) * rng.normal(size=state.position.shape)
        return GaussState(x, -0.5 * x**2), GaussInfo(np.ones(x.shape, dtype=bool))


def ar1(rho: float, k: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=k)
    return run_chains(AR1Kernel(rho), GaussState(x0, -0.5 * x0**2), n_steps=n, seed=rng).positions


def test_ess_of_independent_draws_is_the_number_of_draws():
    n = 4 * 1000
    ess = np.array(
        [effective_sample_size(np.random.default_rng(s).normal(size=(4, 1000))) for s in range(200)]
    )
    sd = ess.std(ddof=1)
    assert abs(ess.mean() / n - 1) < 0.02  # within 2 % on average (the truncation costs ~1 %)
    assert sd < 0.1 * n and np.mean(np.abs(ess - n) < 2 * sd) > 0.9


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_ess_of_an_ar1_chain_matches_theory(rho):
    k, n = 4, 5000
    want = k * n * (1 - rho) / (1 + rho)
    for seed in range(3):
        got = float(effective_sample_size(ar1(rho, k, n, seed)))
        assert abs(got / want - 1) < 0.2, (got, want)


def test_ess_of_an_indicator_ignores_affine_maps_and_constants_are_nan():
    rng = np.random.default_rng(0)
    b = rng.random((4, 500)) < 0.3
    e = effective_sample_size(b)
    assert e == pytest.approx(effective_sample_size(3.0 * b - 1, rank_normalise=False), rel=1e-9)
    assert np.isnan(effective_sample_size(np.ones((4, 100))))
    assert abs(split_r_hat(rng.normal(size=(4, 2000))) - 1) < 0.01


def test_driver_keeps_burn_in_thinning_and_respects_a_time_budget():
    x0 = np.zeros(4)
    seen = []
    run = run_chains(
        AR1Kernel(0.5),
        GaussState(x0, x0),
        n_steps=1000,
        burn_in=100,
        thin=9,
        seed=1,
        on_step=lambda s, i: seen.append(1),
    )
    assert run.positions.shape == (4, 100) and run.log_density.shape == (4, 100)  # steps 100, 109, ...
    assert run.n_steps == len(seen) == 1000 and np.all(run.acceptance == 1.0)
    assert np.all(np.diff(run.kept_seconds) >= 0) and run.drop_first_half().positions.shape == (4, 50)
    diag = run.diagnostics()
    assert set(diag) == {"r_hat", "ess", "r_hat_log_density", "ess_log_density"}
    assert diag["ess"].shape == () and diag["r_hat"].shape == ()
    slow = AR1Kernel(0.5)
    inner = slow.step
    slow.step = lambda rng, st: (time.sleep(1e-4), inner(rng, st))[1]
    t0 = time.perf_counter()
    cut = run_chains(slow, GaussState(x0, x0), n_steps=10**7, time_budget=0.1, seed=0)
    assert cut.n_steps < 10**7 and time.perf_counter() - t0 < 1.0
    with pytest.raises(ValueError, match="burn_in"):
        run_chains(slow, GaussState(x0, x0), n_steps=10, burn_in=11)
    with pytest.raises(ValueError, match="time_budget"):
        run_chains(slow, GaussState(x0, x0), n_steps=10, time_budget=-1.0)


def test_structure_mcmc_is_the_driver_running_the_structure_kernel(score):
    run = structure_mcmc(score, n_chains=4, n_steps=400, burn_in=100, thin=3, seed=7, progress=False)
    kernel = edge_flip(DecomposableTarget(score))
    manual = run_chains(
        kernel, kernel.init(np.zeros((4, 3, 3), bool)), n_steps=400, burn_in=100, thin=3, seed=7
    )
    np.testing.assert_array_equal(run.samples, manual.positions)
    np.testing.assert_allclose(
        run.log_scores, score.log_posterior(run.samples.reshape(-1, 3, 3)).reshape(4, -1)
    )
    diag = chain_diagnostics(manual.positions, manual.log_density)
    np.testing.assert_array_equal(run.ess_edges, diag["ess"])
    assert run.ess_edges.shape == (3, 3) and np.isfinite(run.ess_score)
    summary = run.diagnostics()
    assert summary["n_chains"] == 4 and summary["min_ess"] == pytest.approx(run.min_ess)
    assert 0 < summary["min_ess"] <= 4 * run.samples.shape[1] * 1.5
