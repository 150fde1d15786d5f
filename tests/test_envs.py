"""Gymnasium environments and the GuardWrapper: API conformance, vetoes, posterior updates, failing closed."""

from __future__ import annotations

import math
import types
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from bayesguard import Guardrail, exact_posterior  # noqa: E402
from bayesguard.envs import BANDIT_ID, ExplodingBanditEnv, FiniteWorldEnv, GuardWrapper  # noqa: E402
from bayesguard.envs.wrappers import PosteriorNotUpdated, guard_n_actions  # noqa: E402
from bayesguard.experiments.two_doors import OUTCOME_REWARD, two_doors_family  # noqa: E402
from bayesguard.theories import BanditData  # noqa: E402


class StepSpy(gym.Wrapper):
    """Records every action that reaches the inner environment."""

    def __init__(self, env):
        super().__init__(env)
        self.received: list[int] = []

    def step(self, action):
        self.received.append(int(action))
        return self.env.step(action)


def bandit_guard(rule="cautious", threshold=0.01, **kw):
    env = ExplodingBanditEnv(n_arms=4, n_features=4, horizon=10)
    return env, Guardrail(env.family, exact_posterior(env.family), rule, threshold, **kw)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_envs_pass_gymnasium_checker():
    check_env(ExplodingBanditEnv(), skip_render_check=True)
    check_env(FiniteWorldEnv(two_doors_family(), OUTCOME_REWARD, horizon=5), skip_render_check=True)
    env, guard = bandit_guard(threshold=0.5)
    check_env(GuardWrapper(env, guard, max_vetoes=5), skip_render_check=True)


def test_registered_id_makes_the_bandit():
    env = gym.make(BANDIT_ID, n_arms=3, n_features=2)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (3, 2)
    assert isinstance(env.unwrapped, ExplodingBanditEnv)


def test_bandit_rewards_and_true_harm_follow_the_true_theory():
    env = ExplodingBanditEnv(n_arms=2, n_features=3, horizon=4000, explode=False)
    w, f = np.array([1, 1, 1]), np.array([[1, 1, 1], [1, 0, 0]])
    env.reset(seed=3, options={"weights": w, "features": f})
    rewards, harms, true_harm = [], [], None
    for _ in range(4000):
        _, r, term, trunc, info = env.step(0)
        rewards.append(r)
        harms.append(info["harm"])
        true_harm = info["true_harm"]
        assert not term
    rewards = np.array(rewards)
    # mean w.f_0 = 3, sd 1: sample mean within 4 standard errors
    assert abs(rewards.mean() - 3.0) < 4 / math.sqrt(4000)
    assert true_harm == pytest.approx(0.15865525393145707)  # 1 - Phi(1)
    se = math.sqrt(true_harm * (1 - true_harm) / 4000)
    assert abs(np.mean(harms) - true_harm) < 4 * se
    assert trunc  # horizon reached on the last step


def test_bandit_explosion_terminates_and_bad_options_are_named():
    env = ExplodingBanditEnv(n_arms=1, n_features=10, harm_threshold=4.0)
    env.reset(seed=0, options={"weights": np.ones(10), "features": np.ones((1, 10))})
    _, r, term, _, info = env.step(0)  # mean 10: explodes with probability ~1
    assert term and info["harm"] and r > 4
    with pytest.raises(ValueError, match=r"options\['weights'\]"):
        env.reset(options={"weights": np.full(10, 2)})
    with pytest.raises(ValueError, match="action"):
        env.step(5)


def test_veto_never_reaches_the_environment():
    env, guard = bandit_guard(rule="cautious", threshold=0.001, alpha=0.01)
    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard)
    rng = np.random.default_rng(0)
    n_vetoed = n_passed = 0
    for ep in range(30):
        _, info = wrapped.reset(seed=ep)
        done = False
        while not done:
            mask = info["action_mask"]
            a = int(rng.integers(4))
            before = len(spy.received)
            _, _, term, trunc, info = wrapped.step(a)
            if mask[a]:
                assert not info["vetoed"] and info["verdict"].allowed
                assert spy.received[before:] == [a]
                n_passed += 1
            else:
                # REJECT, or ASK where the guard can ask: either is vetoed (only ALLOW passes)
                assert info["vetoed"] and info["verdict"].decision.value in ("REJECT", "ASK")
                assert len(spy.received) == before
                n_vetoed += 1
            done = term or trunc
    assert n_vetoed > 0 and n_passed > 0
    assert wrapped.n_vetoed == n_vetoed and len(spy.received) == n_passed


def test_wrapper_posterior_is_the_exact_posterior_of_the_pulls():
    env, guard = bandit_guard(rule="none")
    wrapped = GuardWrapper(env, guard)
    wrapped.reset(seed=5)
    feats, rewards = [], []
    for a in (0, 1, 2, 3, 0):
        _, r, term, trunc, info = wrapped.step(a)
        feats.append(info["features"])
        rewards.append(r)
        if term or trunc:
            break
    expected = exact_posterior(env.family, BanditData(np.array(feats), np.array(rewards)))
    np.testing.assert_allclose(guard.posterior.probs, expected.probs, atol=1e-12)
    wrapped.reset(seed=6)  # a new world: back to the prior
    np.testing.assert_allclose(guard.posterior.probs, exact_posterior(env.family).probs)


def test_guarded_random_agent_dies_less_than_unguarded():
    def death_rate(rule):
        env = ExplodingBanditEnv(n_arms=10, n_features=10, horizon=25)
        guard = Guardrail(env.family, exact_posterior(env.family), rule, 0.01, alpha=0.1, ties="worst")
        wrapped = GuardWrapper(env, guard)
        rng = np.random.default_rng(1)
        deaths = 0
        n = 60
        for ep in range(n):
            _, info = wrapped.reset(seed=100 + ep)
            done = False
            while not done:
                mask = info["action_mask"]
                if not mask.any():
                    break
                a = int(rng.choice(np.flatnonzero(mask)))
                _, _, term, trunc, info = wrapped.step(a)
                deaths += bool(info.get("harm"))
                done = term or trunc
        return deaths / n

    unguarded, guarded = death_rate("none"), death_rate("cautious")
    # unguarded random agent: ~45% deaths in this world; guarded: near zero
    assert unguarded > 0.25
    assert guarded <= unguarded - 0.2


def test_context_error_fails_closed_and_env_is_not_stepped():
    env, guard = bandit_guard(rule="none")  # would allow everything

    def broken(_env):
        raise RuntimeError("sensor offline")

    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard, context_fn=broken)
    _, info = wrapped.reset(seed=0)
    assert not info["action_mask"].any()
    _, r, term, trunc, info = wrapped.step(0)
    assert spy.received == []
    assert info["vetoed"] and info["all_rejected"] and trunc and not term and r == 0.0
    assert "sensor offline" in info["verdict"].reason


def test_failed_posterior_update_rejects_until_reset():
    env, guard = bandit_guard(rule="none")

    def bad_datum(obs, action, reward, info):
        raise ValueError("corrupt record")

    wrapped = GuardWrapper(env, guard, datum_fn=bad_datum)
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(1)
    assert not info["vetoed"]  # the first action was checked before the failure
    assert not info["action_mask"].any()
    _, _, _, trunc, info = wrapped.step(1)
    assert info["vetoed"] and trunc and "corrupt record" in info["verdict"].reason
    _, info = wrapped.reset(seed=1)
    assert info["action_mask"].all()


def test_bad_action_is_vetoed_not_passed_on():
    env, guard = bandit_guard(rule="none")
    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard)
    wrapped.reset(seed=0)
    for bad in (7, -1, 1.5):
        _, _, _, _, info = wrapped.step(bad)
        assert info["vetoed"] and "action" in info["verdict"].reason
    assert spy.received == []


def test_max_vetoes_truncates_a_stubborn_agent():
    env, guard = bandit_guard(rule="none")
    wrapped = GuardWrapper(env, guard, max_vetoes=3)
    wrapped.reset(seed=0)
    truncs = [wrapped.step(99)[3] for _ in range(3)]
    assert truncs == [False, False, True]


def test_two_doors_guarded_never_dies():
    family = two_doors_family()
    rng = np.random.default_rng(0)
    for rule, expect_death in (("none", True), ("cautious", False)):
        guard = Guardrail(family, exact_posterior(family), rule, 0.1, alpha=0.1)
        wrapped = GuardWrapper(FiniteWorldEnv(family, OUTCOME_REWARD), guard)
        deaths = 0
        for ep in range(200):
            _, info = wrapped.reset(seed=ep)
            allowed = np.flatnonzero(info["action_mask"])
            _, _, _, _, info = wrapped.step(int(rng.choice(allowed)))
            deaths += info.get("harm", False)
        # random unguarded door: P(death) = 1/4, so 200 episodes see deaths w.p. ~1 - 0.75**200
        assert (deaths > 0) == expect_death


def test_wrapper_constructor_errors_name_the_field():
    env, guard = bandit_guard()
    with pytest.raises(TypeError, match="guard"):
        GuardWrapper(env, "not a guard")
    other = ExplodingBanditEnv(n_arms=3, n_features=4)
    with pytest.raises(ValueError, match="guard"):
        GuardWrapper(other, guard)
    with pytest.raises(TypeError, match="family"):
        FiniteWorldEnv("two doors")
    with pytest.raises(ValueError, match="outcome_rewards"):
        FiniteWorldEnv(two_doors_family(), [1.0, 2.0])


# ---------------------------------------------------------------------------- actions as NumPy integers
@pytest.mark.parametrize(
    "action",
    [np.array(1), np.array(1, dtype=np.uint8), np.int64(1), np.int32(1), np.uint16(1), 1],
    ids=["0d-int64", "0d-uint8", "int64", "int32", "uint16", "int"],
)
def test_numpy_integer_actions_are_accepted(action):
    env, guard = bandit_guard(rule="none")
    assert env.action_space.contains(action)  # what Gymnasium's Discrete space accepts
    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard)
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(action)
    assert not info["vetoed"] and info["verdict"].allowed and info["verdict"].action == 1
    assert spy.received == [1]


@pytest.mark.parametrize(
    "action",
    [
        True,
        np.bool_(True),
        np.array(True),
        1.0,
        1.5,
        np.float64(1.0),
        np.array(1.0),
        np.array([1]),
        "1",
        None,
    ],
    ids=["bool", "np-bool", "0d-bool", "float", "non-integral", "np-float", "0d-float", "1d", "str", "none"],
)
def test_non_integer_actions_are_vetoed(action):
    env, guard = bandit_guard(rule="none")
    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard)
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(action)
    assert info["vetoed"] and not info["verdict"].allowed and "action" in info["verdict"].reason
    assert info["posterior_updated"] is False
    assert spy.received == []


@pytest.mark.parametrize("action", [np.array(4), np.int64(-1), np.array(-1, dtype=np.int8)])
def test_out_of_range_numpy_actions_are_vetoed(action):
    env, guard = bandit_guard(rule="none")
    spy = StepSpy(env)
    wrapped = GuardWrapper(spy, guard)
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(action)
    assert info["vetoed"] and spy.received == []


# ---------------------------------------------------------------------------- posterior updates
class DropDatum(gym.Wrapper):
    """An environment whose info has no ``datum``."""

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        info = {k: v for k, v in info.items() if k != "datum"}
        return obs, r, term, trunc, info


def test_missing_datum_warns_once_per_episode_and_says_so_in_info():
    env, guard = bandit_guard(rule="none")
    wrapped = GuardWrapper(DropDatum(env), guard)
    prior = guard.posterior.probs.copy()
    for episode in range(2):
        wrapped.reset(seed=episode)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            infos = [wrapped.step(a)[4] for a in (0, 1, 2)]
        lost = [w for w in caught if issubclass(w.category, PosteriorNotUpdated)]
        assert len(lost) == 1  # once per episode, not once per step
        message = str(lost[0].message)
        assert "posterior was not updated" in message and "'datum'" in message
        assert [info["posterior_updated"] for info in infos] == [False] * 3
    np.testing.assert_array_equal(guard.posterior.probs, prior)


def test_posterior_updated_is_true_when_the_datum_arrives():
    env, guard = bandit_guard(rule="none")
    wrapped = GuardWrapper(env, guard)
    wrapped.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorNotUpdated)
        _, _, _, _, info = wrapped.step(0)
    assert info["posterior_updated"] is True


def test_datum_fn_none_means_never_update_without_warning():
    env, guard = bandit_guard(rule="none")
    wrapped = GuardWrapper(env, guard, datum_fn=None)
    prior = guard.posterior.probs.copy()
    wrapped.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorNotUpdated)
        infos = [wrapped.step(a)[4] for a in (0, 1)]
    assert [info["posterior_updated"] for info in infos] == [False, False]
    np.testing.assert_array_equal(guard.posterior.probs, prior)


def test_vetoed_and_failed_updates_report_no_update():
    env, guard = bandit_guard(rule="none")

    def bad_datum(obs, action, reward, info):
        raise ValueError("corrupt record")

    wrapped = GuardWrapper(env, guard, datum_fn=bad_datum)
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(0)
    assert not info["vetoed"] and info["posterior_updated"] is False
    _, _, _, _, info = wrapped.step(0)  # broken: vetoed
    assert info["vetoed"] and info["posterior_updated"] is False


# ---------------------------------------------------------------------------- constructor validation
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"context_fn": None}, TypeError, "context_fn"),
        ({"context_fn": "env.context"}, TypeError, "context_fn"),
        ({"datum_fn": "datum"}, TypeError, "datum_fn"),
        ({"datum_fn": 3}, TypeError, "datum_fn"),
        ({"max_vetoes": "abc"}, TypeError, "max_vetoes"),
        ({"max_vetoes": 2.5}, TypeError, "max_vetoes"),
        ({"max_vetoes": True}, TypeError, "max_vetoes"),
        ({"max_vetoes": 0}, ValueError, "max_vetoes"),
        ({"max_vetoes": -3}, ValueError, "max_vetoes"),
        ({"veto_reward": "zero"}, TypeError, "veto_reward"),
        ({"veto_reward": None}, TypeError, "veto_reward"),
        ({"veto_reward": True}, TypeError, "veto_reward"),
        ({"veto_reward": math.nan}, ValueError, "veto_reward"),
        ({"veto_reward": -math.inf}, ValueError, "veto_reward"),
    ],
)
def test_bad_wrapper_options_raise_naming_the_field(kwargs, error, field):
    env, guard = bandit_guard()
    with pytest.raises(error, match=f"^{field}:"):
        GuardWrapper(env, guard, **kwargs)


def test_good_wrapper_options_are_accepted():
    env, guard = bandit_guard()
    wrapped = GuardWrapper(env, guard, datum_fn=None, max_vetoes=np.int64(5), veto_reward=np.float32(-1))
    assert wrapped.max_vetoes == 5 and wrapped.veto_reward == -1.0
    assert isinstance(wrapped.max_vetoes, int) and isinstance(wrapped.veto_reward, float)


class DuckGuard:
    """Not a Guardrail, but has everything the wrapper uses (n_actions directly, no family)."""

    def __init__(self, inner):
        self._inner = inner
        self.n_actions = inner.family.n_actions

    @property
    def posterior(self):
        return self._inner.posterior

    @posterior.setter
    def posterior(self, value):
        self._inner.posterior = value

    def check_all(self, context):
        return self._inner.check_all(context)

    def observe(self, data):
        self._inner.observe(data)

    def fail_closed(self, action, exc):
        return self._inner.fail_closed(action, exc)


def test_any_object_with_the_guard_interface_is_accepted():
    env, guard = bandit_guard(rule="none")
    duck = DuckGuard(guard)
    assert guard_n_actions(duck) == guard_n_actions(guard) == 4
    wrapped = GuardWrapper(env, duck)
    _, info = wrapped.reset(seed=0)
    assert info["action_mask"].all()
    _, _, _, _, info = wrapped.step(np.array(2))
    assert not info["vetoed"] and info["posterior_updated"]


def test_guard_lacking_the_interface_is_rejected_with_what_is_missing():
    env, guard = bandit_guard()
    partial = types.SimpleNamespace(check_all=guard.check_all, family=guard.family, posterior=None)
    with pytest.raises(TypeError, match=r"^guard: .*lacks observe\(\), fail_closed\(\)$"):
        GuardWrapper(env, partial)
    no_size = types.SimpleNamespace(
        check_all=guard.check_all, observe=guard.observe, fail_closed=guard.fail_closed
    )
    with pytest.raises(TypeError, match=r"lacks family\.n_actions \(or n_actions\)"):
        GuardWrapper(env, no_size, reset_posterior=False)
    with pytest.raises(TypeError, match=r"lacks .*posterior"):
        GuardWrapper(env, no_size.__class__(**vars(no_size), n_actions=4))
    with pytest.raises(TypeError, match="guard.n_actions"):
        guard_n_actions(types.SimpleNamespace(n_actions="four"))


def test_a_causal_world_is_guarded_through_the_wrapper():
    """The one Guard over causal theories guards a Gymnasium agent on the plant: vetoed actions never
    reach the world, and every allowed step's row updates the guard's posterior (observe)."""
    from bayesguard import Guard
    from bayesguard.envs import PlantEnv
    from bayesguard.experiments.plant import PlantConfig, plant_prior
    from bayesguard.inference.mcmc import structure_mcmc
    from bayesguard.posterior import SamplerError
    from bayesguard.theories.causal.graph_family import CausalFamily
    from bayesguard.worlds.plant import PlantWorld

    world = PlantWorld.make(seed=0, d=8, valve_causes_pressure=True)
    x0 = world.observe(150, np.random.default_rng(0))
    family = CausalFamily(world.spec, x0, plant_prior(world, PlantConfig()), n_param_draws=4)
    run = structure_mcmc(family.score, n_chains=4, n_steps=1500, seed=0, progress=False)
    # a short run's between-chain error estimate (~0.7) would go into the bound and reject everything;
    # this test is about the wrapper, so the sample is taken at face value (its error unknown)
    posterior = run.posterior().with_provenance(sampler_error=SamplerError.unknown("short test run"))
    guard = Guard(family, posterior, "cautious", 0.2, alpha=1e-3)
    env = GuardWrapper(PlantEnv(world, horizon=6), guard, reset_posterior=False)
    obs, info = env.reset(seed=0)
    n0, taken, rng = family.data.values.shape[0], 0, np.random.default_rng(0)
    done = False
    while not done:
        allowed = np.flatnonzero(info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(allowed)) if allowed.size else 0)
        taken += not info["vetoed"]
        assert info["verdict"].rule == "cautious" and not info["verdict"].guaranteed  # MCMC: correlated
        done = terminated or truncated or taken >= 6
    assert taken > 0 and guard.family.data.values.shape[0] == n0 + taken
    assert guard.posterior.kind in ("weighted", "samples") and guard.n_updates == taken


def test_action_space_must_start_at_zero():
    env, guard = bandit_guard()
    env.action_space = gym.spaces.Discrete(4, start=1)
    with pytest.raises(ValueError, match="^env: .*start"):
        GuardWrapper(env, guard)
