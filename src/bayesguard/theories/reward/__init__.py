"""Reward functions as theories, and the likelihoods of human feedback about them.

- :mod:`.feedback`: the records (preferences, rankings, demonstrations, corrections and stops) and the
  :class:`FeedbackData` bundle that grows as answers arrive;
- :mod:`.human`: the model of the person answering (rationality ``beta`` or a prior over it, mistakes,
  the "equal" answer);
- :mod:`.likelihoods`: log-likelihoods batched over theories, answer probabilities of queries;
- :mod:`.mdp`: small tabular MDPs, value iteration batched over theories, simulated demonstrators;
- :class:`LinearRewardFamily` (Gaussian or ball prior) and :class:`FiniteRewardFamily` (exact), both
  :class:`~bayesguard.theories.base.TheoryFamily` members that the one guard accepts;
- :class:`NeuralRewardFamily` (:mod:`.neural`): an ensemble of small MLP rewards trained on preferences
  (PyTorch) with a last-layer Laplace posterior, for features too rich for a linear model. Posteriors
  of the linear family: :mod:`bayesguard.inference.reward_posterior`.
"""

from .feedback import Answer, Corrections, Demonstrations, FeedbackData, Preferences, Rankings
from .finite import FiniteRewardFamily
from .human import HumanModel, RationalityPrior
from .likelihoods import (
    answer_log_probs,
    answer_probs,
    beta_posterior,
    correction_log_likelihood,
    demonstration_log_likelihood,
    grad_log_likelihood,
    log_likelihood,
    log_likelihood_by_beta,
    preference_log_likelihood,
    ranking_log_likelihood,
)
from .linear import LinearRewardFamily, RewardPrior
from .mdp import TabularMDP, boltzmann_policy, sample_trajectories, trajectory_features
from .neural import NeuralRewardFamily
from .neural_train import NeuralRewardConfig

__all__ = [
    "Answer",
    "Corrections",
    "Demonstrations",
    "FeedbackData",
    "FiniteRewardFamily",
    "HumanModel",
    "LinearRewardFamily",
    "NeuralRewardConfig",
    "NeuralRewardFamily",
    "Preferences",
    "RationalityPrior",
    "Rankings",
    "RewardPrior",
    "TabularMDP",
    "answer_log_probs",
    "answer_probs",
    "beta_posterior",
    "boltzmann_policy",
    "correction_log_likelihood",
    "demonstration_log_likelihood",
    "grad_log_likelihood",
    "log_likelihood",
    "log_likelihood_by_beta",
    "preference_log_likelihood",
    "ranking_log_likelihood",
    "sample_trajectories",
    "trajectory_features",
]
