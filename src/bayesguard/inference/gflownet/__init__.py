"""DAG-GFlowNet (Deleu et al., UAI 2022): an amortised sampler of DAGs with probability ∝ prior × likelihood.

- :mod:`.env`: the state space (DAGs built one edge at a time; acyclicity masks from an incrementally
  updated transitive closure), vectorised over many graphs at once;
- :mod:`.policy`: the forward policy network ``P_F(add i->j | G)`` and ``P_F(stop | G)``;
- :mod:`.train`: the modified detailed-balance loss on transitions from a replay buffer, filled
  off-policy by an epsilon-uniform exploration policy; save / load; sampling;
- :mod:`.exact`: for ``d <= 5``, the exact distribution over graphs the trained sampler induces (a sum
  over construction orders by dynamic programming), to measure it against the exact posterior with no
  sampling noise.

Needs PyTorch (the ``gfn`` extra).
"""

from .env import DAGEnv
from .exact import sampler_distribution
from .policy import EdgePolicy
from .train import DAGGFlowNet, GFlowNetConfig

__all__ = ["DAGEnv", "DAGGFlowNet", "EdgePolicy", "GFlowNetConfig", "sampler_distribution"]
