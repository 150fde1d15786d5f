"""DAG-GFlowNet (Deleu et al., UAI 2022): an amortised sampler of DAGs with probability ∝ prior × likelihood.

Separated as in torchgfn (environment / states, estimators, losses, training loop):

- :mod:`.env`: the state space (DAGs built one edge at a time; acyclicity masks from an incrementally
  updated transitive closure; optional candidate-parent and in-degree masks), vectorised over many graphs
  at once;
- :mod:`.policy`: the forward policy network ``P_F(add i->j | G)`` and ``P_F(stop | G)``, an MLP;
  :mod:`.policy_attention`: the same from message passing and self-attention over nodes (its size does
  not grow with ``d^2``), chosen by ``GFlowNetConfig(policy="attention")``;
- :mod:`.transitions`: :class:`Transitions`, a typed batch of edge additions ``G -> G'``;
- :mod:`.buffer`: the replay buffer (bit-packed) that stores transitions and samples batches of them;
- :mod:`.explore`: the off-policy epsilon-uniform behaviour policy that fills the buffer;
- :mod:`.loss`: :func:`mdb_loss`, the modified detailed-balance loss, a pure function of a policy and
  a transition batch;
- :mod:`.trainer`: the training loop (exploration, then a gradient step on a buffered batch);
- :mod:`.sampling`: bounded sampling of graphs from the forward policy;
- :mod:`.persistence`: validated, pickle-free save / load;
- :mod:`.train`: :class:`DAGGFlowNet`, all of the above behind one object; :mod:`.config`: its
  :class:`GFlowNetConfig`;
- :mod:`.exact`: for ``d <= 5``, the exact distribution over graphs the trained sampler induces (a sum
  over construction orders by dynamic programming), to measure it against the exact posterior with no
  sampling noise.

Needs PyTorch (the ``gfn`` extra).
"""

from .config import GFlowNetConfig, PolicyKind
from .env import DAGEnv
from .exact import sampler_distribution, target_distribution
from .loss import mdb_loss, mdb_residuals
from .policy import EdgePolicy
from .policy_attention import AttentionEdgePolicy
from .train import DAGGFlowNet
from .trainer import train_loop
from .transitions import Transitions

__all__ = [
    "AttentionEdgePolicy",
    "DAGEnv",
    "DAGGFlowNet",
    "EdgePolicy",
    "GFlowNetConfig",
    "PolicyKind",
    "Transitions",
    "mdb_loss",
    "mdb_residuals",
    "sampler_distribution",
    "target_distribution",
    "train_loop",
]
