"""Order MCMC against brute force on d = 4 (all 24 orders, all 543 DAGs), the kernel's transition matrix,
the plus-one space, candidate pruning and expansion on d = 10, and input validation.

Statistical tolerances are 4 standard errors, the standard error from the chains' effective sample size.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import enumerate_dags
from bayesguard.inference.candidates import candidate_parents, expand_candidates
from bayesguard.inference.driver import effective_sample_size
from bayesguard.inference.order_kernel import OrderKernel, proposal_probabilities
from bayesguard.inference.order_mcmc import OrderMCMCConfig, order_log_score, order_mcmc
from bayesguard.inference.order_space import OrderSpace
from bayesguard.inference.order_table import OrderTable
from bayesguard.inference.parent_sets import ParentSetTable
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore

D = 4
PERMS = np.array(list(itertools.permutations(range(D))))


def _score(d: int, n: int, seed: int, **prior: object) -> tuple[StructureScore, np.ndarray]:
    scm = sample_linear_gaussian_scm(d, n, 1.5 * d, seed=seed)
    kind = prior.pop("kind", "erdos-renyi")
    pri = StructurePrior.make(d, kind=kind, expected_edges=d / 2, **prior)  # type: ignore[arg-type]
    return StructureScore(BGeScore(scm.data), pri), scm.adj


@pytest.fixture(scope="module")
def small() -> dict:
    """The d = 4 problem and its exact order posterior, by brute force over subsets."""
    score, _ = _score(D, 40, 3)
    logs = np.zeros(len(PERMS))
    for r, order in enumerate(PERMS):
        for pos, j in enumerate(order):
            pred = order[:pos]
            subsets = [
                sum(1 << int(i) for i in s) for k in range(pos + 1) for s in itertools.combinations(pred, k)
            ]
            vals = score.local_many(np.full(len(subsets), j), np.array(subsets, dtype=np.int64))
            logs[r] += np.log(np.exp(vals - vals.max()).sum()) + vals.max()
    pi = np.exp(logs - logs.max())
    return {
        "score": score,
        "logs": logs,
        "pi": pi / pi.sum(),
        "table": ParentSetTable.build(score, max_parents=3),
    }


def _order_index(orders: np.ndarray) -> np.ndarray:
    """``(..., 4)`` orders -> ``(...)`` row of PERMS."""
    code = (orders * 4 ** np.arange(D)[::-1]).sum(axis=-1)
    lookup = np.full(4**D, -1)
    lookup[(PERMS * 4 ** np.arange(D)[::-1]).sum(axis=1)] = np.arange(len(PERMS))
    return lookup[code]


def _transition_matrix(logs: np.ndarray, p_adjacent: float, beta: float = 1.0) -> np.ndarray:
    q = proposal_probabilities(D, p_adjacent)
    index = {tuple(p): r for r, p in enumerate(PERMS)}
    out = np.zeros((len(PERMS), len(PERMS)))
    for x, order in enumerate(PERMS):
        for a, c in itertools.combinations(range(D), 2):
            y_order = order.copy()
            y_order[[a, c]] = y_order[[c, a]]
            y = index[tuple(y_order)]
            out[x, y] += q[a, c] * min(1.0, np.exp(beta * (logs[y] - logs[x])))
        out[x, x] = 1.0 - out[x].sum()
    return out


def _within_se(freq: np.ndarray, exact: np.ndarray, ess: np.ndarray, k: float = 4.0) -> None:
    se = np.sqrt(exact * (1 - exact) / ess) + 1e-12
    bad = np.abs(freq - exact) > k * se
    assert not bad.any(), (freq[bad], exact[bad], se[bad])


# ------------------------------------------------------------------------------------------ scores
def test_order_scores_match_brute_force(small: dict) -> None:
    table = small["table"]
    np.testing.assert_allclose(order_log_score(table, PERMS), small["logs"], rtol=0, atol=1e-9)
    masked = OrderTable(table, lookup=False).order_scores(PERMS)
    np.testing.assert_allclose(masked, small["logs"], rtol=0, atol=1e-9)


def test_plus_one_space_lookup_equals_masked_sum_and_definition(small: dict) -> None:
    score = small["score"]
    cand = np.zeros((D, D), bool)
    cand[0, 1] = cand[1, 2] = cand[2, 3] = cand[3, 0] = True
    space = OrderSpace.build(score, cand, max_parents=2, plus_one=True)
    assert space.plus_one
    fast = OrderTable(space).order_scores(PERMS)
    assert OrderTable(space).core is not None
    np.testing.assert_allclose(OrderTable(space, lookup=False).order_scores(PERMS), fast, atol=1e-9)
    # by definition: sets of <= 2 parents, at most one of them outside the candidates
    expected = np.zeros(len(PERMS))
    for r, order in enumerate(PERMS):
        for pos, j in enumerate(order):
            sets = [s for k in range(min(pos, 2) + 1) for s in itertools.combinations(order[:pos], k)]
            sets = [s for s in sets if sum(not cand[i, j] for i in s) <= 1]
            masks = np.array([sum(1 << int(i) for i in s) for s in sets], dtype=np.int64)
            vals = score.local_many(np.full(masks.size, j), masks)
            expected[r] += np.log(np.exp(vals - vals.max()).sum()) + vals.max()
    np.testing.assert_allclose(fast, expected, atol=1e-9)


# ---------------------------------------------------------------------------------------- kernel
@pytest.mark.parametrize("p_adjacent, beta", [(0.5, 1.0), (0.0, 1.0), (1.0, 0.3)])
def test_detailed_balance_of_the_kernel(small: dict, p_adjacent: float, beta: float) -> None:
    pi = np.exp(beta * (small["logs"] - small["logs"].max()))
    pi /= pi.sum()
    p = _transition_matrix(small["logs"], p_adjacent, beta)
    assert np.all(p >= -1e-15)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(pi @ p, pi, atol=1e-12)
    flow = pi[:, None] * p
    np.testing.assert_allclose(flow, flow.T, atol=1e-12)


def test_kernel_step_follows_the_transition_matrix(small: dict) -> None:
    p = _transition_matrix(small["logs"], 0.4)
    rng = np.random.default_rng(1)
    n = 40_000
    for x in (int(np.argmin(small["pi"])), int(np.argmax(small["pi"]))):
        kernel = OrderKernel(small["table"], np.ones(1), p_adjacent=0.4)
        state = kernel.init(np.broadcast_to(PERMS[x], (n, 1, D)))
        new, info = kernel.step(rng, state)
        freq = np.bincount(_order_index(new.position), minlength=len(PERMS)) / n
        _within_se(freq, p[x], np.full(len(PERMS), n))
        assert info.accepted.shape == (n,)
        np.testing.assert_allclose(new.log_density, small["logs"][_order_index(new.position)], atol=1e-9)


def test_lookup_and_masked_kernels_take_the_same_path(small: dict) -> None:
    start = np.broadcast_to(PERMS[5], (3, 2, D))
    states = []
    for lookup in (True, False):
        kernel = OrderKernel(small["table"], np.array([1.0, 0.5]), lookup=lookup)
        state, rng = kernel.init(start), np.random.default_rng(7)
        for _ in range(300):
            state, _ = kernel.step(rng, state)
        states.append(state)
    np.testing.assert_array_equal(states[0].orders, states[1].orders)
    np.testing.assert_allclose(states[0].scores, states[1].scores, atol=1e-9)


# ------------------------------------------------------------------------------------ the chains
@pytest.mark.parametrize("n_rungs, beta_min", [(1, 1.0), (4, 0.05)])
def test_chain_order_frequencies_match_exact(small: dict, n_rungs: int, beta_min: float) -> None:
    cfg = OrderMCMCConfig(n_rungs=n_rungs, beta_min=beta_min, thin=2)
    res = order_mcmc(small["score"], cfg, n_steps=16_000, seed=11, progress=False, candidates="all")
    idx = _order_index(res.orders)  # (C, n)
    onehot = idx[..., None] == np.arange(len(PERMS))
    freq = onehot.mean(axis=(0, 1))
    ess = effective_sample_size(onehot.astype(float))
    ess = np.where(np.isfinite(ess), ess, np.nanmedian(ess))
    _within_se(freq, small["pi"], ess)
    if n_rungs > 1:
        assert res.swap_acceptance.shape == (n_rungs - 1,) and np.all(res.swap_acceptance > 0.2)
    assert res.max_r_hat < 1.05


def test_dag_draws_given_an_order_follow_the_exact_conditional(small: dict) -> None:
    score, order = small["score"], PERMS[9]
    n = 30_000
    adj, logs, _ = OrderTable(small["table"]).draws(np.broadcast_to(order, (n, D)), np.random.default_rng(3))
    np.testing.assert_allclose(logs, score.log_posterior(adj), atol=1e-9)
    pos = np.argsort(order)
    dags = enumerate_dags(D)
    consistent = dags[~np.any(dags & (pos[:, None] >= pos[None, :]), axis=(1, 2))]
    assert consistent.shape[0] == 1 * 2 * 4 * 8
    lp = score.log_posterior(consistent)
    exact = np.exp(lp - lp.max())
    exact /= exact.sum()
    keys = (consistent.reshape(len(consistent), -1) * (1 << np.arange(D * D))).sum(axis=1)
    drawn = (adj.reshape(n, -1) * (1 << np.arange(D * D))).sum(axis=1)
    counts = (drawn[:, None] == keys[None]).sum(axis=0)
    assert counts.sum() == n
    # chi-square with the cells expecting under 5 draws pooled into one
    big = exact * n >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(exact[big], exact[~big].sum()) * n
    assert stats.chisquare(obs, exp).pvalue > 1e-4


def _order_modular_edges(score: StructureScore) -> np.ndarray:
    dags = enumerate_dags(D)
    pos = np.argsort(PERMS, axis=1)  # (24, d) position of each node
    forward = pos[:, :, None] < pos[:, None, :]  # (24, i, j)
    n_ext = (~np.any(dags[:, None] & ~forward[None], axis=(2, 3))).sum(axis=1)
    lw = score.log_posterior(dags) + np.log(n_ext)
    w = np.exp(lw - lw.max())
    return np.einsum("g,gij->ij", w / w.sum(), dags)


def test_rao_blackwell_edges_equal_order_modular_enumeration(small: dict) -> None:
    exact = _order_modular_edges(small["score"])
    per_order = OrderTable(small["table"]).edge_probs(PERMS)  # (24, d, d)
    np.testing.assert_allclose(np.einsum("o,oij->ij", small["pi"], per_order), exact, atol=1e-10)
    res = order_mcmc(small["score"], OrderMCMCConfig(thin=2), n_steps=8_000, seed=5, progress=False)
    rb = OrderTable(res.space).edge_probs(res.orders.reshape(-1, D)).reshape(*res.orders.shape[:2], D, D)
    sd = rb.std(axis=(0, 1))
    ess = np.nan_to_num(effective_sample_size(rb, rank_normalise=False), nan=1e9)
    off = ~np.eye(D, dtype=bool)
    err = np.abs(res.edge_marginals() - exact)[off]
    assert np.all(err <= 4 * sd[off] / np.sqrt(ess[off]) + 1e-9), err
    freq_err = np.abs(res.edge_marginals(rao_blackwell=False) - exact)[off]
    assert freq_err.max() < 0.05


def test_required_and_forbidden_edges(small: dict) -> None:
    score, _ = _score(D, 40, 3, required=[(2, 0)], forbidden=[(1, 3)])
    res = order_mcmc(score, OrderMCMCConfig(thin=5), n_steps=2_000, seed=2, progress=False)
    assert res.samples[..., 2, 0].all() and not res.samples[..., 1, 3].any()
    pos = np.argsort(res.orders, axis=-1)
    assert np.all(pos[..., 2] < pos[..., 0])


def test_result_posterior_and_diagnostics(small: dict) -> None:
    res = order_mcmc(small["score"], OrderMCMCConfig(thin=5), n_steps=2_000, seed=4, progress=False)
    post = res.posterior()
    assert post.kind == "samples" and post.method == "order-mcmc" and post.family == "causal-dag"
    assert not post.independent and post.sampler_error.known and not post.sampler_error.is_bound
    assert post.n_theories == res.samples.shape[0] * res.samples.shape[1]
    diag = res.diagnostics()
    for key in ("max_r_hat", "r_hat_score", "min_ess", "ess_score", "acceptance", "swap_acceptance_min"):
        assert np.isfinite(diag[key]), key
    assert res.r_hat_edges.shape == res.ess_edges.shape == (D, D)
    np.testing.assert_allclose(
        res.dag_log_scores,
        small["score"].log_posterior(res.samples.reshape(-1, D, D)).reshape(res.dag_log_scores.shape),
        atol=1e-9,
    )


# --------------------------------------------------------------------------- candidates, d = 10
def test_candidates_keep_true_parents_and_expansion_finds_a_removed_one() -> None:
    score, truth = _score(10, 400, 0)
    cand = candidate_parents(score, 6)
    assert cand.sum(axis=0).max() <= 6 and not np.any(np.diag(cand))
    assert not np.any(truth & ~cand), np.argwhere(truth & ~cand)
    assert np.array_equal(candidate_parents(score, 6, method="pairwise").sum(axis=0) <= 6, np.ones(10, bool))
    # remove the strongest true parent of some node; the plus-one run and the expansion bring it back
    exact = _strongest_parent(score, truth)
    i, j = exact
    crippled = cand.copy()
    crippled[i, j] = False
    res = order_mcmc(
        score, OrderMCMCConfig(thin=5), n_steps=3_000, seed=0, progress=False, candidates=crippled
    )
    assert res.space.plus_one and not res.space.candidates[i, j]
    new, added = expand_candidates(crippled, res.edge_marginals(), threshold=0.05)
    assert added[i, j] and new[i, j]
    assert not np.any(added & crippled)


def _strongest_parent(score: StructureScore, truth: np.ndarray) -> tuple[int, int]:
    pairs = np.argwhere(truth)
    gain = [
        score.local_many(np.array([j]), np.array([1 << int(i)]))[0]
        - score.local_many(np.array([j]), np.array([0]))[0]
        for i, j in pairs
    ]
    i, j = pairs[int(np.argmax(gain))]
    return int(i), int(j)


def test_pruned_pipeline_runs_at_d10() -> None:
    score, truth = _score(10, 200, 1)
    cfg = OrderMCMCConfig(n_candidates=5, thin=5, pilot_fraction=0.3)
    res = order_mcmc(score, cfg, n_steps=2_000, seed=1, progress=False, candidates="pruned")
    assert res.space.plus_one and len(res.expansion) >= 1 and res.pilot_seconds > 0
    assert res.samples.shape[-2:] == (10, 10) and np.isfinite(res.max_r_hat)


# ------------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("n_chains", {"n_chains": 0}),
        ("n_rungs", {"n_rungs": 0}),
        ("beta_min", {"beta_min": 0.0}),
        ("p_adjacent", {"p_adjacent": 1.5}),
        ("burn_in_fraction", {"burn_in_fraction": 1.0}),
        ("thin", {"thin": 0}),
        ("candidate_method", {"candidate_method": "magic"}),
        ("expand_threshold", {"expand_threshold": 0.0}),
        ("pilot_fraction", {"pilot_fraction": 1.0}),
    ],
)
def test_bad_config_names_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        OrderMCMCConfig(**kwargs)


def test_bad_run_inputs_name_the_field(small: dict) -> None:
    score = small["score"]
    run = {"n_steps": 50, "progress": False}
    with pytest.raises(ValueError, match="init"):
        order_mcmc(score, init=np.array([0, 1, 2]), **run)
    with pytest.raises(ValueError, match="init"):
        order_mcmc(score, init=np.array([0, 1, 1, 2]), **run)
    with pytest.raises(ValueError, match="candidates"):
        order_mcmc(score, candidates=np.ones((3, 3), bool), **run)
    with pytest.raises(ValueError, match="candidates"):
        order_mcmc(score, candidates="some", **run)
    with pytest.raises(ValueError, match="time_budget"):
        order_mcmc(score, time_budget=-1.0, **run)
    with pytest.raises(TypeError, match="n_steps"):
        order_mcmc(score, n_steps=1.5, progress=False)
    with pytest.raises(ValueError, match="n_steps"):
        order_mcmc(score, OrderMCMCConfig(thin=100), n_steps=50, progress=False)
    with pytest.raises(TypeError, match="config"):
        order_mcmc(score, config={"n_chains": 2}, **run)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="K"):
        candidate_parents(score, 0)
    with pytest.raises(ValueError, match="method"):
        candidate_parents(score, 2, method="other")
    with pytest.raises(ValueError, match="edge_probs"):
        expand_candidates(np.zeros((D, D), bool), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="threshold"):
        expand_candidates(np.zeros((D, D), bool), np.zeros((D, D)), threshold=0.0)
