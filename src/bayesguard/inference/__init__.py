"""Samplers that turn a theory family and data into a :class:`~bayesguard.posterior.Posterior`."""

from .exact import exact_posterior

__all__ = ["exact_posterior"]
