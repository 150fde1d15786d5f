"""Causal Bayesian networks as theories: graphs, scores, parameter posteriors and interventions.

Conventions shared by every module of this package:

- ``d`` variables, indexed ``0..d-1`` in the column order of the data (names kept beside).
- A graph is a boolean adjacency matrix ``adj`` of shape ``(d, d)`` with ``adj[i, j] = True`` for the
  edge ``i -> j``; a batch of graphs is ``(n, d, d)``.
- The parent set of node ``j`` is also written as a bitmask ``sum_i adj[i, j] << i`` (``int64``; so
  ``d <= 62``), which keys the cache of local scores.
- Scores are log marginal likelihoods, decomposable: ``log p(D | G) = sum_j local(j, pa_j)``.
"""
