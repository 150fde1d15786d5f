"""Small models for the OOD benchmark (:mod:`.ood`): an ensemble of tiny MLP classifiers (PyTorch, CPU)
and Bayesian logistic regression on fixed features with a Laplace posterior (NumPy).

Both give per-theory predictive probabilities ``(n_theories, n_contexts)`` of the positive class, the
input of :func:`~bayesguard.marginal.ood.bald` and :func:`~bayesguard.marginal.ood.disagreement`; the
Laplace model also gives ``phi(x)^T Sigma phi(x)`` (:func:`~bayesguard.marginal.ood.laplace_variance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..marginal.ood import laplace_variance


def ensemble_probs(
    x: np.ndarray,
    y: np.ndarray,
    queries: np.ndarray,
    *,
    members: int = 5,
    hidden: int = 32,
    epochs: int = 300,
    lr: float = 0.01,
    seed: int = 0,
) -> np.ndarray:
    """Train ``members`` MLPs ``f -> hidden -> hidden -> 1`` (tanh) from independent initialisations,
    full-batch Adam on the logistic loss, all members at once (one batched network); return their
    probabilities at ``queries``: ``(members, n_queries)``.

    Args:
        x: ``(n, f)`` inputs; y: ``(n,)`` labels in {0, 1}; queries: ``(m, f)``.
    """
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    f = x.shape[1]

    def init(fan_in: int, fan_out: int) -> torch.Tensor:
        bound = 1.0 / np.sqrt(fan_in)
        w = (torch.rand(members, fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        return w.requires_grad_()

    params = [init(f, hidden), init(1, hidden), init(hidden, hidden), init(1, hidden), init(hidden, 1)]
    params.append(torch.zeros(members, 1, 1, dtype=torch.float64, requires_grad=True))

    def forward(inp: torch.Tensor) -> torch.Tensor:  # (n, f) -> (members, n) logits
        w1, b1, w2, b2, w3, b3 = params
        h = torch.tanh(inp[None] @ w1 + b1)
        h = torch.tanh(h @ w2 + b2)
        return (h @ w3 + b3)[..., 0]

    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)[None].expand(members, -1)
    opt = torch.optim.Adam(params, lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
    for _ in range(epochs):  # optimisation steps; every member is updated in the same step
        opt.zero_grad()
        loss = loss_fn(forward(xt), yt) / x.shape[0]
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.sigmoid(forward(torch.as_tensor(queries, dtype=torch.float64))).numpy()


def rff_map(n_inputs: int, n_features: int, lengthscale: float, seed: int):
    """Random Fourier features of the RBF kernel with ``lengthscale``:
    ``phi(x) = sqrt(2 / D) cos(x W / lengthscale + b)``, ``(n, f) -> (n, D)``."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_inputs, n_features)) / lengthscale
    b = rng.uniform(0, 2 * np.pi, n_features)
    return lambda x: np.sqrt(2.0 / n_features) * np.cos(np.asarray(x, dtype=np.float64) @ w + b)


@dataclass
class LaplaceLogistic:
    """Bayesian logistic regression ``p(y = 1 | x, w) = sigmoid(w . phi(x))`` with prior
    ``w ~ N(0, prior_var I)`` and the Laplace posterior ``N(w_map, Sigma)``,
    ``Sigma^-1 = Phi^T diag(p (1 - p)) Phi + I / prior_var`` at the MAP (found by Newton's method).
    """

    prior_var: float = 10.0
    max_iter: int = 100
    tol: float = 1e-8

    def fit(self, phi: np.ndarray, y: np.ndarray) -> LaplaceLogistic:
        """Fit on features ``(n, D)`` and labels ``(n,)``."""
        n, dim = phi.shape
        w = np.zeros(dim)
        prec0 = np.eye(dim) / self.prior_var
        for _ in range(self.max_iter):  # Newton iterations (the MAP is unique: the objective is convex)
            p = expit(phi @ w)
            grad = phi.T @ (p - y) + prec0 @ w
            hess = phi.T @ (phi * (p * (1 - p))[:, None]) + prec0
            step = np.linalg.solve(hess, grad)
            w = w - step
            if np.max(np.abs(step)) < self.tol:
                break
        p = expit(phi @ w)
        hess = phi.T @ (phi * (p * (1 - p))[:, None]) + prec0
        self.w_map = w
        self.cov = np.linalg.inv(hess)
        self.cov = 0.5 * (self.cov + self.cov.T)
        return self

    def variance(self, phi: np.ndarray) -> np.ndarray:
        """``(m,)`` posterior variance of the logit ``w . phi(x)``."""
        return laplace_variance(phi, self.cov)

    def sample_probs(self, phi: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_samples, m)`` probabilities under weights drawn from the Laplace posterior."""
        chol = np.linalg.cholesky(self.cov + 1e-12 * np.eye(self.cov.shape[0]))
        w = self.w_map + rng.standard_normal((n_samples, self.w_map.size)) @ chol.T
        return expit(w @ phi.T)
