"""The `synthetic` built-in: a random market of a given size, for benchmarks and tests."""

from __future__ import annotations

from typing import Any

import numpy as np

SYNTHETIC_STRATEGIES = (
    "cost_plus",
    "low_price",
    "differentiation",
    "penetration_then_raise",
    "follower",
    "best_response",
)
"""Provider j plays strategy j mod 6 of these built-ins, whatever else is installed: the
synthetic market is the same on every machine."""


def synthetic_data(
    base: dict[str, Any],
    *,
    n_providers: int = 6,
    n_regions: int = 4,
    n_developers: int = 10_000,
    synthetic_seed: int = 0,
) -> dict[str, Any]:
    """A random market of the given size around `base` (segments, market), for benchmarks.

    Drawn from its own seed, not the model's: a synthetic scenario is a fixed, printable
    input like any other, and the model's seed then only drives the run.
    """
    rng = np.random.default_rng(synthetic_seed)
    names = [f"R{i}" for i in range(n_regions)]
    shares = rng.dirichlet(np.full(n_regions, 4.0))
    coords = rng.uniform(0, 1, size=(n_regions, 2))
    distance = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    latency = 20.0 + 250.0 * distance
    providers = []
    for j in range(n_providers):
        home = int(rng.integers(n_regions))
        providers.append(
            {
                "name": f"P{j}",
                "home": names[home],
                "strategy": SYNTHETIC_STRATEGIES[j % len(SYNTHETIC_STRATEGIES)],
                "price_usd_per_mtok": float(np.exp(rng.uniform(np.log(0.5), np.log(15.0)))),
                "quality": float(rng.uniform(55, 85)),
                "open_weights": bool(rng.random() < 0.3),
                "energy_kwh_per_mtok": float(rng.uniform(0.3, 2.0)),
                "idle_power_fraction": float(rng.uniform(0.2, 0.5)),
                "pue": float(rng.uniform(1.1, 1.6)),
                "gpu_price_usd": float(rng.uniform(25_000, 50_000)),
                "gpu_kw": float(rng.uniform(0.7, 1.2)),
                "amortization_months": int(rng.integers(36, 61)),
                "opex_fixed_usd_per_month": float(rng.uniform(0, 200_000)),
                "opex_usd_per_gpu_month": float(rng.uniform(100, 250)),
                "cash_usd": float(rng.uniform(1e6, 2e7)),
            }
        )
    return {
        **base,
        "name": "synthetic",
        "n_developers": n_developers,
        "regions": [
            {
                "name": names[r],
                "population_share": float(shares[r]),
                "demand_growth_per_month": float(rng.uniform(0.0, 0.05)),
                "electricity_usd_per_kwh": float(rng.uniform(0.03, 0.25)),
            }
            for r in range(n_regions)
        ],
        "latency_ms": {
            a: {b: float(latency[i, k]) for k, b in enumerate(names)} for i, a in enumerate(names)
        },
        "access": {
            a: {b: float(rng.choice([1.0, 1.0, 1.0, 0.5, 0.0])) if a != b else 1.0 for b in names}
            for a in names
        },
        "providers": providers,
    }
