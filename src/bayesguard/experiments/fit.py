"""``bayesguard fit CONFIG --out DIR``: fit a guard from a TOML config (and a CSV), write its bundle.

The config is described in :mod:`bayesguard.service.config` (causal) and
:mod:`bayesguard.service.config_families` (bandit, finite); the bundle in
:mod:`bayesguard.service.bundle`. ``--out`` names a directory, or a tar archive when it ends in ``.tar``,
``.tar.gz`` or ``.tgz``. The command prints the bundle's SHA-256, the posterior it holds (and an
amortised network's validated error margin) and a first look (not a benchmark): a causal guard's verdict
on every action at the data's mean (or modal) context, a finite guard's verdicts, a bandit's most
probable theories. It writes nothing but the bundle.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .registry import Option, register
from .report import Result, Table, col


def _verdict_rows(guard: Any, context: Any, names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "action": names[v.action],
            "decision": v.decision.value,
            "harm_estimate": v.harm_estimate,
            "threshold": v.threshold,
            "guaranteed": v.guaranteed,
        }
        for v in guard.check_all(context)
    ]


def _first_look(guard: Any, kind: str) -> tuple[list[dict[str, Any]], str, str]:
    """The summary table's rows and title, and a line on the posterior."""
    from ..service.codecs import action_names

    post = guard.posterior
    if kind == "causal":
        spec = guard.family.spec
        values = np.asarray(guard.family.data.values, dtype=np.float64)
        if spec.discrete:  # the most frequent category of each context variable
            context: Any = {
                c: int(np.bincount(values[:, spec.index(c)].astype(np.int64)).argmax()) for c in spec.context
            }
        else:
            context = {c: float(values[:, spec.index(c)].mean()) for c in spec.context}
        title = f"verdicts at the data's {'modal' if spec.discrete else 'mean'} context {context}"
        line = (
            f"posterior: {post.n_theories} graphs on d = {spec.d} ({post.kind}, {post.method}; "
            f"{post.sampler_error}), harm {spec.harm}, {values.shape[0]} rows"
        )
        net = guard.bound.amortised
        if net is not None:
            line += f"; amortised harm network, validated error margin {net.error_margin:.3g} (empirical)"
        return _verdict_rows(guard, context, action_names(guard)), title, line
    line = f"posterior: exact over {post.n_theories} theories of {guard.family.name}"
    if kind == "finite":
        return _verdict_rows(guard, None, action_names(guard)), "verdicts", line
    probs = post.probs
    rows = [
        {"theory": guard.family.describe(post.theories[i]), "probability": float(probs[i])}
        for i in np.argsort(-probs, kind="stable")[:5]
    ]
    return rows, "the most probable theories (a check's context is the arms' features)", line


@register(
    "fit",
    help="fit a guard from a TOML config (and a CSV) and write it as a checksummed bundle",
    options=(
        Option("config", "the TOML config (its data.csv is read relative to it)", "guard.toml", str),
        Option(
            "--out",
            "the bundle to write: a directory, or a .tar / .tar.gz archive (not an existing one unless "
            "--overwrite)",
            "guard-bundle",
            str,
        ),
        Option("--overwrite", "replace an existing bundle at --out", False),
    ),
)
def fit(args: argparse.Namespace) -> Result:
    """Fit, write the bundle, verify it by loading it back, and summarise."""
    from ..service.bundle import build_bundle, fit_guard, open_bundle
    from ..service.codecs import family_kind

    fitted = fit_guard(args.config)
    out = build_bundle(fitted.config, args.out, overwrite=args.overwrite, fitted=fitted)
    bundle = open_bundle(out)
    manifest, guard = bundle.manifest, bundle.guard
    rows, title, line = _first_look(guard, family_kind(guard))
    fmt = {"harm_estimate": ".4g", "threshold": ".4g", "probability": ".4g"}
    table = Table(rows, {k: col(k, fmt.get(k, "")) for k in rows[0]}, title=title)
    return Result(
        tables=(table,),
        notes=(
            f"bundle {out} (family {manifest['family']}, format version {manifest['version']})",
            f"bundle sha256 {manifest['bundle_sha256']}",
            line,
        ),
    )
