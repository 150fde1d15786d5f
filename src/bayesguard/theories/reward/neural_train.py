"""Training the ensemble of :mod:`.neural` on pairwise preferences (PyTorch, CPU, one thread).

Every member is the MLP ``x -> tanh(x W_1 + b_1) -> ... -> tanh(. W_L + b_L) = h(x) -> v . h(x)``; the
``M`` members are one batched network (weights ``(M, in, out)``), trained together by full-batch Adam on
the sum of their negative log posteriors: the answers' negative log-likelihood under the human model
(Bradley-Terry with Davidson's "equal" answer and the mistake rate ``eps``, the formulas of
:mod:`.choice`) plus ``|theta|^2 / (2 s^2)`` for a Gaussian prior ``N(0, s^2)`` on every weight. Members
differ only in their random initialisation (deep ensembles, Lakshminarayanan et al. 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._validate import positive_int
from .feedback import Preferences
from .human import HumanModel


@dataclass(frozen=True)
class NeuralRewardConfig:
    """How the ensemble is built and trained.

    Attributes:
        members: ensemble size ``M``.
        hidden: width of each hidden layer (the last one is the feature ``h(x)`` the head reads).
        layers: number of hidden layers.
        epochs: full-batch Adam steps.
        lr: Adam's learning rate.
        prior_scale: standard deviation ``s`` of the Gaussian prior on every weight (also the last-layer
            Laplace prior).
        seed: seeds the initialisation.
    """

    members: int = 5
    hidden: int = 16
    layers: int = 2
    epochs: int = 400
    lr: float = 0.02
    prior_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int(self.members, "members")
        positive_int(self.hidden, "hidden")
        positive_int(self.layers, "layers")
        positive_int(self.epochs, "epochs")
        positive_int(self.seed, "seed", minimum=0)
        for name in ("lr", "prior_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: expected a positive finite number, got {v!r}")


def check_model(model: HumanModel) -> HumanModel:
    """The neural reward needs one known ``beta`` (the mixture over a beta grid is not trained)."""
    if not isinstance(model, HumanModel):
        raise TypeError(f"model: expected a HumanModel, got {type(model).__name__}")
    if not model.beta_fixed:
        raise ValueError("model.beta: the neural reward needs a fixed beta, not a RationalityPrior")
    return model


def train_members(
    prefs: Preferences, model: HumanModel, config: NeuralRewardConfig
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Train the ensemble; returns ``(weights, biases, head)`` as float64 arrays: ``weights[k]``
    ``(M, in_k, hidden)``, ``biases[k]`` ``(M, hidden)``, ``head`` ``(M, hidden)``."""
    import torch

    check_model(model)
    torch.set_num_threads(1)
    cfg = config
    gen = torch.Generator().manual_seed(cfg.seed)
    m_, d_in = cfg.members, prefs.n_features
    dims = [d_in] + [cfg.hidden] * cfg.layers

    def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(fan_in)
        return ((torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound).requires_grad_()

    ws = [uniform((m_, dims[k], dims[k + 1]), dims[k]) for k in range(cfg.layers)]
    bs = [uniform((m_, 1, dims[k + 1]), dims[k]) for k in range(cfg.layers)]
    head = uniform((m_, cfg.hidden, 1), cfg.hidden)
    params = [*ws, *bs, head]

    def reward(x: torch.Tensor) -> torch.Tensor:  # (n, d_in) -> (M, n)
        h = x[None].expand(m_, -1, -1)
        for w, b in zip(ws, bs, strict=True):  # over layers
            h = torch.tanh(h @ w + b)
        return (h @ head)[..., 0]

    left = torch.tensor(prefs.left, dtype=torch.float64)
    right = torch.tensor(prefs.right, dtype=torch.float64)
    answer = torch.tensor(prefs.answer, dtype=torch.long)
    beta, eps, nu = float(model.beta), model.eps, model.indifference  # type: ignore[arg-type]
    if nu == 0 and bool((answer == 2).any()):
        raise ValueError("Preferences.answer: 'equal' answers (2) need a human model with indifference > 0")
    n_answers = 3 if nu > 0 else 2
    opt = torch.optim.Adam(params, lr=cfg.lr)
    for _ in range(cfg.epochs):  # optimisation steps; all members in each
        opt.zero_grad()
        d = reward(left) - reward(right)  # (M, m)
        logits = [0.5 * beta * d, -0.5 * beta * d]
        if nu > 0:
            logits.append(torch.full_like(d, math.log(nu)))
        lp = torch.log_softmax(torch.stack(logits, -1), -1)  # (M, m, n_answers)
        if eps > 0:
            lp = torch.logaddexp(lp + math.log1p(-eps), torch.full_like(lp, math.log(eps / n_answers)))
        nll = -lp.gather(-1, answer[None, :, None].expand(m_, -1, 1)).sum()
        penalty = sum((p * p).sum() for p in params) / (2 * cfg.prior_scale**2)
        (nll + penalty).backward()
        opt.step()
    out = [p.detach().numpy().astype(np.float64) for p in params]
    k = cfg.layers
    return out[:k], [b[:, 0, :] for b in out[k : 2 * k]], out[2 * k][..., 0]
