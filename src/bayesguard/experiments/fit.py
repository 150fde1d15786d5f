"""``bayesguard fit CONFIG --out DIR``: fit a guard from a TOML config and a CSV, write its bundle.

The config is described in :mod:`bayesguard.service.config`; the bundle in
:mod:`bayesguard.service.bundle`. The command prints the bundle's SHA-256, the posterior it holds and the
guard's verdict on every action at the data's mean context (a first look, not a benchmark); it writes
nothing but the bundle.
"""

from __future__ import annotations

import argparse

import numpy as np

from .registry import Option, register
from .report import Result, Table, col


@register(
    "fit",
    help="fit a guard from a TOML config and a CSV and write it as a checksummed bundle",
    options=(
        Option("config", "the TOML config (its data.csv is read relative to it)", "guard.toml", str),
        Option(
            "--out", "the bundle directory to write (must not exist unless --overwrite)", "guard-bundle", str
        ),
        Option("--overwrite", "replace an existing bundle at --out", False),
    ),
)
def fit(args: argparse.Namespace) -> Result:
    """Fit, write the bundle, verify it by loading it back, and summarise."""
    from ..service.bundle import build_bundle, fit_guard, load_bundle, verify_bundle

    fitted = fit_guard(args.config)
    out = build_bundle(fitted.config, args.out, overwrite=args.overwrite, fitted=fitted)
    manifest = verify_bundle(out)
    guard = load_bundle(out)
    spec = guard.family.spec
    values = np.asarray(guard.family.data.values, dtype=np.float64)
    context = {c: float(values[:, spec.index(c)].mean()) for c in spec.context}
    if spec.discrete:  # the most frequent category of each context variable
        context = {
            c: int(np.bincount(values[:, spec.index(c)].astype(np.int64)).argmax()) for c in spec.context
        }
    rows = [
        {
            "action": spec.action_names[v.action],
            "decision": v.decision.value,
            "harm_estimate": v.harm_estimate,
            "threshold": v.threshold,
            "guaranteed": v.guaranteed,
        }
        for v in guard.check_all(context)
    ]
    post = fitted.posterior
    table = Table(
        rows,
        {k: col(k, ".4g" if k in ("harm_estimate", "threshold") else "") for k in rows[0]},
        title=f"verdicts at the data's {'modal' if spec.discrete else 'mean'} context {context}",
    )
    return Result(
        tables=(table,),
        notes=(
            f"bundle {out} (family {manifest['family']}, format version {manifest['version']})",
            f"bundle sha256 {manifest['bundle_sha256']}",
            f"posterior: {len(post.log_weights)} graphs on d = {spec.d} ({post.kind}, {post.method}; "
            f"{post.sampler_error}), harm {spec.harm}, {values.shape[0]} rows",
        ),
    )
