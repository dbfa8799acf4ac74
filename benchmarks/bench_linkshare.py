"""Max-min fair link sharing (``greenhop.fleet.linkshare.fair_rates``) at fleet scale.

Problems of ``F`` flows of 5 hops over ``L`` links (default 1,000 x 10,000), with
contention either spread over all links or concentrated on 300 of them, 20% of the
flows under a ceiling. Timed side by side, interleaved, against:

* the *one-pass floor*: ``route.sum(axis=0)``, reading the dense ``(F, L)`` route
  matrix once, the least any function taking that matrix must do;
* ``fair_rates_pairs`` on the same routes as index lists (what a caller that keeps
  routes sparse pays; no dense matrix read);
* textbook serial progressive filling (one saturation or ceiling event per round,
  dense matrix products) on a problem 5x smaller each way, beside ``fair_rates`` on
  that same smaller problem.

Usage: ``python benchmarks/bench_linkshare.py [--flows 1000] [--links 10000] [--repeats 15]``.
Reports medians and ratios, never a bare time as a verdict; it never gates CI.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from greenhop.fleet.linkshare import fair_rates, fair_rates_pairs


def problem(n_f: int, n_l: int, hot: int | None, seed: int):
    """Routes ``(F, L)``, capacities [bit/s] and ceilings [bit/s] of one random problem."""
    rng = np.random.default_rng(seed)
    route = np.zeros((n_f, n_l), dtype=bool)
    pool = n_l if hot is None else min(hot, n_l)
    for f in range(n_f):
        route[f, rng.choice(pool, 3, replace=False)] = True
        route[f, rng.choice(n_l, 2, replace=False)] = True
    cap = rng.uniform(1e9, 1e11, n_l)
    ceiling = np.where(rng.random(n_f) < 0.2, rng.uniform(5e7, 1e9, n_f), np.inf)
    return route, cap, ceiling


def textbook(route, cap, ceiling):
    """Serial progressive filling, one event per round, dense products."""
    n_f = route.shape[0]
    rates = np.zeros(n_f)
    active = route.any(axis=1)
    rates[~active] = ceiling[~active]
    while active.any():
        load = route.T.astype(float) @ np.where(active | np.isinf(rates), 0.0, rates)
        n = route[active].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lvl = np.where(n > 0, (cap - load) / n, np.inf)
        t = min(lvl.min(), ceiling[active].min())
        hit = active & (route[:, lvl <= t * (1 + 1e-12)].any(axis=1) | (ceiling <= t))
        rates[hit] = np.minimum(t, ceiling[hit])
        active &= ~hit
    return rates


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--links", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    print(f"greenhop link-sharing benchmark: {a.flows} flows x {a.links} links, "
          f"{a.repeats} interleaved runs, numpy {np.__version__}, {platform.machine()}")
    for label, hot in (("spread", None), ("300 hot links", 300)):
        route, cap, ceiling = problem(a.flows, a.links, hot, 1)
        fi, li = np.nonzero(route)
        small = problem(a.flows // 5, a.links // 5, None if hot is None else hot // 5, 2)
        np.testing.assert_allclose(fair_rates(*small), textbook(*small), rtol=1e-9)
        runs: dict[str, list[float]] = {k: [] for k in
                                        ("fair_rates", "fair_rates_pairs", "one-pass floor",
                                         "fair_rates (1/5)", "textbook (1/5)")}
        for _ in range(a.repeats):
            runs["fair_rates"].append(timed(fair_rates, route, cap, ceiling))
            runs["fair_rates_pairs"].append(timed(fair_rates_pairs, fi, li, a.flows, cap,
                                                  ceiling))
            runs["one-pass floor"].append(timed(route.sum, 0))
            runs["fair_rates (1/5)"].append(timed(fair_rates, *small))
            runs["textbook (1/5)"].append(timed(textbook, *small))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"\n{label}:")
        print(f"{'contender':<22}{'median':>10}{'best':>10}")
        for k, v in runs.items():
            print(f"{k:<22}{med[k] * 1e3:>8.2f}ms{min(v) * 1e3:>8.2f}ms")
        print(f"fair_rates / one-pass floor: {med['fair_rates'] / med['one-pass floor']:.1f}x; "
              f"speed-up over the textbook (1/5 size): "
              f"{med['textbook (1/5)'] / med['fair_rates (1/5)']:.0f}x")


if __name__ == "__main__":
    main()
