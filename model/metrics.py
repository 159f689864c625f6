"""Market-level measures, as pure functions over arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd


def hhi(served_mtok: np.ndarray) -> float:
    """Herfindahl–Hirschman index of token shares, in [0, 1]; 0 when nothing is served."""
    total = served_mtok.sum()
    return float(((served_mtok / total) ** 2).sum()) if total > 0 else 0.0


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean; NaN (missing) when the weights sum to zero."""
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else float("nan")


def flows_by_region(
    developer_region: np.ndarray,
    provider_home: np.ndarray,
    served_mtok: np.ndarray,
    n_regions: int,
) -> np.ndarray:
    """(n_regions, n_regions) tokens served, indexed [developer_region, provider_home]."""
    return cross_sum(developer_region, provider_home, served_mtok, (n_regions, n_regions))


def cross_sum(
    rows: np.ndarray, columns: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """`shape` table of summed weights, indexed [row, column] (a weighted cross-tabulation)."""
    cells = rows * shape[1] + columns
    return np.bincount(cells, weights=weights, minlength=shape[0] * shape[1]).reshape(shape)


def cross_border_share(flows_mtok: np.ndarray) -> float:
    """Share of served tokens that cross a border (developer region != provider home)."""
    total = flows_mtok.sum()
    return float(1.0 - np.trace(flows_mtok) / total) if total > 0 else 0.0


def _abroad_share(flows: pd.DataFrame, side: str) -> pd.Series:
    """Share of each `side` region's tokens that crossed a border; missing where none."""
    total = flows.groupby(side, sort=False)["served_mtok"].sum()
    abroad = flows[flows["cross_border"]].groupby(side, sort=False)["served_mtok"].sum()
    return abroad.reindex(total.index, fill_value=0.0) / total.where(total > 0)


def cross_border_by_home(flows: pd.DataFrame) -> pd.Series:
    """Share of the tokens each provider home region served abroad, over the rows given.

    `flows` is a `flow_frame()` (or some of its months); a region that served nothing has
    no share (missing), not 0. Its exports; `bought_abroad_by_region` is the other way.
    """
    return _abroad_share(flows, "home_region").rename("cross_border_share")


def bought_abroad_by_region(flows: pd.DataFrame) -> pd.Series:
    """Share of the tokens each developer region bought from providers homed abroad.

    A region's imports, under its own rules on foreign APIs (and the providers'); a region
    that bought nothing has no share (missing), not 0.
    """
    return _abroad_share(flows, "developer_region").rename("bought_abroad_share")


def cross_border_by_route(site_flows_mtok: np.ndarray) -> tuple[float, float]:
    """Shares of all served tokens that cross a border as export and as investment.

    `site_flows_mtok` is [developer region, provider home, site region]: a token crosses a
    border when the developer's region is not the provider's home (ownership, as
    `cross_border_share`); it is export when served from a site at home, investment when
    served from a site abroad. The two sum to `cross_border_share`.
    """
    total = site_flows_mtok.sum()
    if total <= 0:
        return 0.0, 0.0
    n = site_flows_mtok.shape[0]
    developer, home, site = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    abroad = developer != home
    export = site_flows_mtok[abroad & (site == home)].sum()
    investment = site_flows_mtok[abroad & (site != home)].sum()
    return float(export / total), float(investment / total)


def home_share(flows_mtok: np.ndarray, home: int) -> float:
    """Share of all served tokens that providers homed in region `home` serve."""
    total = flows_mtok.sum()
    return float(flows_mtok[:, home].sum() / total) if total > 0 else 0.0


def served_abroad_share(flows_mtok: np.ndarray, home: int) -> float:
    """Share of the tokens of providers homed in `home` that developers abroad use."""
    served = flows_mtok[:, home].sum()
    return float(1.0 - flows_mtok[home, home] / served) if served > 0 else 0.0
