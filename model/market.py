"""TokenMarket: the Mesa model of the global market for LLM API tokens.

One step is one month, in the order of MODEL.md: demand grows; providers decide prices, R&D
and capacity; awareness diffuses; developers choose; the market clears with rationing;
providers book the month and may exit; quality moves; the DataCollector records.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from tokenmarket.agents.developer import Developer
from tokenmarket.agents.provider import Provider
from tokenmarket.agents.strategies import registry
from tokenmarket.model import costs, demand, entry, frontier, metrics, sites
from tokenmarket.model.compute import GpuMarket
from tokenmarket.model.demand import OUTSIDE, Population
from tokenmarket.model.networks import Routes
from tokenmarket.model.random import OUTSIDE_KEY, Purpose, Streams, key_of, seed_of
from tokenmarket.model.scenario import ScenarioError, load_scenario
from tokenmarket.model.schema import (
    AccessShock,
    CapacityLimitShock,
    CarbonShock,
    DemandGrowthShock,
    EfficiencyShock,
    ElectricityShock,
    EntryShock,
    GpuAccessShock,
    QualityShock,
    Scenario,
    Shock,
)

PROVIDER_COLUMNS = (
    "price_usd_per_mtok",
    "scarcity_premium",
    "token_share",
    "developer_share",
    "demand_share",
    "customers",
    "demand_mtok",
    "served_mtok",
    "capacity_mtok",
    "capacity_abroad_mtok",
    "served_abroad_mtok",
    "utilization",
    "revenue_usd",
    "electricity_usd",
    "capex_usd",
    "capex_paid_usd",
    "opex_usd",
    "rnd_usd",
    "profit_usd",
    "npv_usd",
    "free_cash_flow_usd",
    "dcf_usd",
    "terminal_value_usd",
    "firm_value_usd",
    "cash_usd",
    "unit_cost_usd_per_mtok",
    "marginal_cost_usd_per_mtok",
    "energy_kwh",
    "electricity_share_of_opex",
    "electricity_share_of_cost",
    "quality",
    "tokens_mtok",
    "active",
)
"""Per provider and month, in `provider_frame()`; every name is a Provider attribute.
`demand_mtok`, `served_mtok` and `capacity_mtok` are in Mtok of its reference model (a tier
of compute share s uses s of a unit); `tokens_mtok` counts the tokens of all its tiers. The
`_abroad` columns are the part at its sites abroad (`model/sites.py`)."""

PRODUCT_COLUMNS = (
    "price_usd_per_mtok",
    "quality",
    "compute_kwh_per_mtok",
    "tokens_per_task_factor",
    "requested_mtok",
    "served_mtok",
    "spill_in_mtok",
    "spilled_mtok",
    "spill_served_mtok",
    "lost_mtok",
    "tasks",
)
"""Per product (provider x tier) and month, in `product_frame()` (from `product_table`).
Price and quality are what developers chose on; `requested_mtok` is its customers' first-
choice demand; `served_mtok` = requested served directly + `spill_in_mtok` (others' rationed
demand it took); of its own unserved demand (`spilled_mtok`), `spill_served_mtok` was served
elsewhere and `lost_mtok` was not; `tasks` is served Mtok over tokens per task."""

MARKET_COLUMNS = (
    "hhi",
    "mean_price_usd_per_mtok",
    "total_demand_mtok",
    "total_served_mtok",
    "requested_mtok",
    "spilled_mtok",
    "spill_served_mtok",
    "lost_mtok",
    "outside_share",
    "consumer_surplus",
    "cross_border_share",
    "cross_border_export_share",
    "cross_border_investment_share",
    "active_providers",
    "entries",
    "exits",
    "energy_kwh",
    "frontier_quality",
)
"""Per month, in `market_frame()`; every name is a TokenMarket attribute. The cross-border
share is split by where the tokens were served from: export (a site at the provider's home)
and investment (its site abroad, `model/sites.py`)."""

SITE_COLUMNS = (
    "built",
    "open",
    "capacity_mtok",
    "served_mtok",
    "electricity_usd_per_kwh",
    "pue",
    "energy_kwh",
    "electricity_usd",
    "capex_usd",
    "opex_usd",
    "gpu",
)
"""Per site of the scenario and month, in `site_frame()` (from `site_table`): built (ordered)
and open (serving) as 0/1, capacity and served in Mtok of its owner's reference model, its
own power price (carbon included) and PUE, its cost lines, the GPU type it buys (index)."""

FRAME_KEYS = ("run_id", "seed", "step", "date")
"""First columns of every frame: the run's label and seed, the month and its calendar date."""


def month_dates(start: datetime.date, steps: Any) -> pd.DatetimeIndex:
    """The first day of each month in `steps` (1 = the month of the scenario's `start`).

    One mapping from model months to calendar dates, for the frames' `date` column and for
    the figures' event marks, so the two cannot disagree.
    """
    first = pd.Period(start, freq="M")
    ordinals = first.ordinal + np.asarray(steps, dtype=np.int64) - 1
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp()


ARRAY_REPORTERS = (
    "flows_mtok",
    "site_flows_mtok",
    "site_table",
    "segment_demand_mtok",
    "segment_served_mtok",
    "segment_spend_usd",
    "product_table",
)
"""Per month, arrays behind `flow_frame()`, `site_frame()`, `segment_frame()` and
`product_frame()`, not `market_frame()` columns."""

MISSING_WHEN_UNDEFINED = (
    "price_usd_per_mtok",
    "utilization",
    "unit_cost_usd_per_mtok",
    "electricity_share_of_opex",
    "electricity_share_of_cost",
    "mean_price_usd_per_mtok",
)
"""Ratios whose denominator can be zero, and the price of a provider out of the market (not
yet entered, or gone): reported as missing (NaN in a float64 column, as every float of the
frames), never inf or a stale number."""


@dataclass(slots=True)
class _Observed:
    """What firms see at the start of a month: last month's outcome and posted prices."""

    step: int
    price_usd_per_mtok: np.ndarray
    quality: np.ndarray
    active: np.ndarray
    demand_share: np.ndarray
    outside_share: float
    price_sensitivity: float
    price_utility: str
    population: Population
    chosen_provider: np.ndarray
    """Each developer's provider (the owner of its product), or OUTSIDE."""

    def reach(self, provider_index: int) -> np.ndarray:
        """Share of the provider's customers (all developers, if it has none) who may use each."""
        customers = self.chosen_provider == provider_index
        pop = self.population
        rows = customers if customers.any() else np.ones(pop.size, dtype=bool)
        return np.average(pop.access[rows], axis=0, weights=pop.weight[rows])


class TokenMarket(mesa.Model):
    """Providers selling LLM tokens and developers choosing among them, month by month.

    Args:
        scenario: a built-in name (see `tokenmarket scenarios`), a path to a TOML file, or a
            `Scenario`.
        rng: seed or generator. The run's named streams (`self.streams`) are keyed by the
            seed it gives (`random.seed_of`); Mesa's own `self.rng` is left to Mesa.
        **overrides: knobs (`model/parameters.py`; `tokenmarket knobs` lists a scenario's):
            `n_developers`, `switching_cost`, `electricity_{region}`, `strategy_{provider}`,
            `param_{provider}_{field}`, ... so that `mesa.batch_run` and SolaraViz sliders
            work on the constructor unchanged.

    The validated scenario is `self.spec` (Mesa's own `Model.scenario` is a different thing).

    """

    streams_class: type[Streams] = Streams
    """What turns the seed into draws. `benchmarks/bench_crn.py` swaps in one generator shared
    by every purpose (the draw order before named streams) to measure what streams buy."""

    size_bias: float = 1.0
    """Agents are drawn with probability proportional to (demand at the start) ** this
    (`_draw_population`): 1 by default, every agent then carrying an equal share of the
    market's tokens; 0 is agents in proportion to developers, all of one weight
    (`benchmarks/bench_variance.py` compares them)."""

    def __init__(
        self, scenario: str | Path | Scenario = "going_global", *, rng: Any = None, **overrides: Any
    ) -> None:
        spec = load_scenario(scenario, **overrides)
        if isinstance(rng, int | np.integer) and rng < 0:
            raise ScenarioError(f"rng: a seed must be a non-negative integer (got {rng})")
        self.streams = self.streams_class(seed_of(rng))
        """Named random streams of the run (`model/random.py`)."""
        super().__init__(rng=rng)
        self.spec = spec
        self.n_regions = len(spec.regions)
        self.demand_growth = np.array([r.demand_growth_per_month for r in spec.regions])
        self.carbon_usd_per_kwh = np.array([r.carbon_usd_per_kwh for r in spec.regions])
        self.power_price_factor = np.ones(self.n_regions)
        """Each region's power prices now over the scenario's (its `electricity` shocks so
        far): a site built later pays the grid price of its month."""
        self.segment_alpha = np.array([s.price_weight for s in spec.segments])
        self.segment_beta = np.array([s.quality_weight for s in spec.segments])
        self.segment_gamma = np.array([s.latency_weight for s in spec.segments])
        self.segment_u0 = np.array([s.outside_utility for s in spec.segments])

        self.provider_list = [
            Provider(
                self,
                p,
                index=j,
                home=spec.region_names.index(p.home),
                strategy=registry.make(p.strategy, p.strategy_params),
                electricity_usd_per_kwh=p.electricity_usd_per_kwh
                or spec.regions[spec.region_names.index(p.home)].electricity_usd_per_kwh,
            )
            for j, p in enumerate(spec.all_providers)
        ]
        for shock in spec.shocks:
            if isinstance(shock, EntryShock):
                self.provider_list[spec.all_providers.index(shock.provider)].schedule_entry(
                    shock.step
                )
        first = len(self.provider_list) - len(spec.potential_entrants)
        self._waiting = list(zip(self.provider_list[first:], spec.potential_entrants, strict=True))
        """Potential entrants not yet in, with their terms (`model/entry.py`)."""
        for waiting, terms in self._waiting:
            waiting.schedule_entry(terms.earliest_step)
        self.entries = self.exits = 0
        """Providers that entered, and that left, this month."""
        self.providers = self.agents_by_type[Provider]
        self.home = np.array([p.home for p in self.provider_list])
        names = [p.name for p in self.provider_list]
        self.author = np.array([names.index(p.spec.hosts or p.name) for p in self.provider_list])
        """Provider whose model each provider serves: itself, or an open-weights author."""
        self._follow_authors()
        self.gpu_market = GpuMarket.of(spec)
        """The compute market (`model/compute.py`); None: providers keep their own hardware."""
        self._equip_for_purchase(self.provider_list)
        self.routes = Routes(spec, self.home)
        """Latency by developer region and provider, with PoPs (`model/networks.py`)."""
        self.site_options = sites.options(spec, self._site_draws())
        """Sites not built yet (`model/sites.py`); each leaves the list when ordered."""
        self.site_slots: list[sites.Site | None] = [None] * len(spec.sites)
        """Each of the scenario's sites once built, in the scenario's order."""
        tiers = [(p, t) for p in self.provider_list for t in p.tiers]
        self.product_provider = np.array([p.index for p, _ in tiers])
        """Provider of each product (provider x tier): the product axis of choice and clearing."""
        self.product_names = [(p.name, t.name) for p, t in tiers]
        self.compute_share = np.array([t.compute_share for _, t in tiers])
        """Compute per token of each product over its provider's reference model's."""
        self.task_factor = np.array([t.tokens_per_task_factor for _, t in tiers])
        """Tokens per task of each product over its segment's `tokens_per_task`."""
        self.tokens_per_task_growth = np.array(
            [s.tokens_per_task_growth_per_month for s in spec.segments]
        )
        self.frontier_capability = max(p.capability for p in self.provider_list if p.active)
        """F(t) of `model/frontier.py`: the best capability, at any compute per token."""
        self._frontier_path = [self.frontier_capability]
        self.frontier_quality = self._frontier_quality()
        self.access_probability = spec.access_matrix()
        self._shocks_by_step: dict[int, list[Shock]] = {}
        for shock in spec.shocks:
            self._shocks_by_step.setdefault(shock.step, []).append(shock)
        self.population = self._draw_population()
        self.tastes = demand.Tastes(spec.market.taste_persistence)
        self._option_keys = [
            p.key if len(p.tiers) == 1 else key_of(f"{p.name}/{t.name}")
            for p in self.provider_list
            for t in p.tiers
        ] + [OUTSIDE_KEY]
        """Stream keys of the choice's options (products), the outside last. By name, never by
        position: a one-tier provider's product is keyed by the provider's name, a tier of a
        line by "provider/tier", so an entrant moves no one else's draws. Built once: the
        provider list holds every potential entrant from set-up, and tiers are fixed."""
        self._nesting: dict[str, Any] = {
            "provider_of": self.product_provider,
            "tier_cost_share": spec.market.tier_switching_cost_share,
            "nest_scale": spec.market.tier_nest_scale,
            "nest_keys": [key_of(f"{p.name}/line") for p in self.provider_list],
            "tastes": self.tastes,
        }
        """`demand.choose`'s product structure (lines, tier-change cost, nest scale), tastes."""
        self.developers = Developer.create_agents(
            self, spec.n_developers, row=np.arange(spec.n_developers)
        )

        self.flows_mtok = np.zeros((self.n_regions, self.n_regions))
        self.site_flows_mtok = np.zeros((self.n_regions,) * 3)
        """Tokens served, [developer region, provider home, site region] (`model/sites.py`)."""
        self.site_table = np.zeros((len(spec.sites), len(SITE_COLUMNS)))
        self.cross_border_export_share = self.cross_border_investment_share = 0.0
        self._region_load = np.zeros((self.n_regions, len(self.provider_list)))
        """Last month's served load by developer region and provider (Mtok of reference)."""
        self.requested_mtok = self.spilled_mtok = self.spill_served_mtok = self.lost_mtok = 0.0
        """Unmet demand of the month, Mtok: requested of providers (first choices), spilled
        by rationing, served after spilling, lost (`_clear` states the conservation law)."""
        self.segment_demand_mtok = self.segment_served_mtok = self.segment_spend_usd = np.zeros(
            (len(spec.segments), len(self.provider_list))
        )
        self.product_table = np.zeros((len(tiers), len(PRODUCT_COLUMNS)))
        self._weights = self._choice_weights()
        self._form_market()
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "step": "steps",
                **{c: c for c in MARKET_COLUMNS},
                **{c: c for c in ARRAY_REPORTERS},
            },
            agenttype_reporters={
                Provider: {"provider": "name", **{c: c for c in PROVIDER_COLUMNS}}
            },
        )

    # ----------------------------------------------------------------- set-up
    def _draw_population(self) -> Population:
        """Developers as a stratified sample of the scenario's population, denser where tokens are.

        Agents are drawn with probability proportional to size (Hansen and Hurwitz 1943), size
        being a developer's demand at the start to the power `size_bias` (beta): region x
        segment cells get one agent each (if `n_developers` allows, so none drops out) and the
        rest by largest remainders (exact to one agent) in proportion to developers x
        E[demand ** beta], and within a cell each agent stands for one of m slices
        of equal mass under the demand distribution tilted by demand ** beta
        (`demand.lognormal_slices`), carrying the slice's developers as its weight
        (`Population.weight`) and their mean demand. Each cell's developers and its demand are
        exact at any resolution. At beta = 1 every agent starts with the same share of the
        market's tokens. Why: firms act on the tokens they sell, and with agents in proportion
        to developers a provider's demand rested on a few heavy customers (lognormal demand,
        sigma 1-1.2; enterprises are 15 % of developers and ~90 % of tokens). That noise,
        through rules that act one way (a short firm's price never falls, a capacity order is
        never undone, the convex HHI), moved mean outcomes with `n_developers`
        (docs/variance.md). Every agent-level rule is a per-developer probability, so the
        weights change no expectation, only the noise. Within each cell demand, switching
        cost, access and initial awareness are Latin hypercube draws
        (`demand.stratified_uniforms`): `n_developers` changes resolution, not the market.
        """
        spec, n, n_regions = self.spec, self.spec.n_developers, self.n_regions
        seg = spec.segments
        shares = np.outer(
            [s.population_share for s in seg], [r.population_share for r in spec.regions]
        )
        beta = self.size_bias
        size = np.array(  # E[X ** beta] of each segment's lognormal demand
            [
                s.demand_median_mtok_per_month**beta * np.exp((beta * s.demand_sigma) ** 2 / 2)
                for s in seg
            ]
        )
        peopled = (shares.ravel() > 0).astype(int)
        floor = peopled if n >= peopled.sum() else 0 * peopled  # no cell drops out at small n
        counts = floor + demand.apportion(n - floor.sum(), (shares * size[:, None]).ravel())
        cell = np.repeat(np.arange(shares.size), counts)
        stood_for = np.where(counts > 0, shares.ravel(), 0.0)
        weight = (n * stood_for / stood_for.sum() / np.maximum(counts, 1))[cell]
        segment, region = np.divmod(cell, n_regions)
        u = demand.stratified_uniforms(
            cell, self.streams.generator(Purpose.POPULATION), 2 + n_regions
        )
        aware_u = np.column_stack(
            [
                demand.stratified_uniforms(
                    cell, self.streams.generator(Purpose.POPULATION, p.key), 1
                )
                for p in self.provider_list
            ]
        )
        access_draw = u[:, 2 : 2 + n_regions]
        demand_median = np.array([s.demand_median_mtok_per_month for s in seg])[segment]
        demand_sigma = np.array([s.demand_sigma for s in seg])[segment]
        cost_median = np.array([s.switching_cost_median for s in seg])[segment]
        cost_sigma = np.array([s.switching_cost_sigma for s in seg])[segment]
        aware_p = np.column_stack(
            [
                self._initial_awareness(p) if p.active else np.zeros(n_regions)
                for p in self.provider_list
            ]
        )
        slice_mean, slice_developers = demand.lognormal_slices(u[:, 0], cell, demand_sigma, beta)
        weight = weight * slice_developers
        return Population(
            region=region,
            segment=segment,
            cell=cell,
            base_demand_mtok=demand_median
            * slice_mean
            * weight
            * (spec.represented_developers or n)
            / n,
            weight=weight,
            switching_cost=cost_median * np.exp(cost_sigma * ndtri(u[:, 1])),
            review_probability=np.array([s.review_probability for s in seg])[segment],
            aware=aware_u < aware_p[region],
            access_draw=access_draw,
            access=(access_draw < self.access_probability[region])[:, self.home],
            choice=np.full(n, OUTSIDE),
            must_review=np.zeros(n, dtype=bool),
            reference_task_price=np.ones(n),
        )

    def _form_market(self) -> None:
        """Step 0: size each fleet from its logit demand, then let everyone choose freely."""
        pop = self.population
        expected, growth = self._expected_demand(self._weights.probabilities()[:, :-1])
        for p in self.provider_list:
            if p.active:
                p.install_initial_capacity(
                    self._initial_capacity(p, expected[p.index]),
                    min(growth[p.index], self._growth_cap_from_start(p)),
                )
        everyone = np.arange(pop.size)
        pop.choice[:] = demand.choose(
            pop,
            everyone,
            self._weights,
            self.streams,
            0,
            self._option_keys,
            switching_cost=np.zeros(pop.size),
            **self._nesting,
        )
        pop.reference_task_price[:] = self._task_prices()[pop.choice]
        requested, d, inside = self._demand_by_product()
        total = float(d.sum())
        self.outside_share = float(d[~inside].sum()) / total
        load, tokens = (
            self._by_provider(requested * self.compute_share),
            self._by_provider(requested),
        )
        for p in self.provider_list:
            p.demand_mtok = load[p.index]
            p.demand_share = tokens[p.index] / total

    def _initial_awareness(self, provider: Provider) -> np.ndarray:
        """Share of each region's developers aware of a provider at first (entrants: at entry)."""
        spec = provider.spec
        abroad = (
            self.spec.market.awareness_initial
            if spec.initial_awareness is None
            else spec.initial_awareness
        )
        home = abroad if spec.initial_home_awareness is None else spec.initial_home_awareness
        return np.where(np.arange(self.n_regions) == provider.home, home, abroad)

    def _expected_demand(self, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each provider's expected logit demand and its expected monthly growth.

        `probabilities` is developers x products; demand is in Mtok of the provider's
        reference model a month (its tiers' tokens weighted by their compute share), at the
        prices a developer would choose at (the intensive margin is relative to them). Growth
        is the demand-weighted growth of the regions its expected customers live in: what a
        firm sizing its pipeline would plan for.
        """
        pop = self.population
        d = self._task_demand_mtok()
        factor = self.task_factor * self.compute_share
        expected = self._by_provider((probabilities.T @ d) * factor)
        growing = self._by_provider(
            (probabilities.T @ (d * self.demand_growth[pop.region])) * factor
        )
        growth = np.divide(growing, expected, out=np.zeros_like(expected), where=expected > 0)
        return expected, growth

    def _by_provider(self, per_product: np.ndarray) -> np.ndarray:
        """Sum a per-product array (last axis) over each provider's tiers."""
        n = len(self.provider_list)
        if per_product.ndim == 1:
            return np.bincount(self.product_provider, weights=per_product, minlength=n)
        membership = np.eye(n)[self.product_provider]  # products x providers, one-hot
        return per_product @ membership

    def chosen_provider(self) -> np.ndarray:
        """Each developer's provider (the owner of its chosen product), or OUTSIDE."""
        choice = self.population.choice
        return np.where(choice == OUTSIDE, OUTSIDE, self.product_provider[choice])

    def _growth_cap_from_start(self, provider: Provider) -> float:
        """A capacity-growth cap in force from month 1 also held for the orders in the pipeline."""
        caps = [
            shock.max_growth_per_month
            for shock in self._shocks_by_step.get(1, ())
            if isinstance(shock, CapacityLimitShock)
            and shock.region == provider.region
            and shock.max_growth_per_month is not None
        ]
        return min(caps, default=np.inf)

    @staticmethod
    def _initial_capacity(provider: Provider, expected_mtok: float) -> float:
        """The scenario's capacity, or what the logit demand it expects calls for."""
        sized = expected_mtok / provider.strategy.params.target_utilization
        return provider.spec.capacity_mtok or max(sized, 1.0)

    # ----------------------------------------------------------------- helpers
    def _equip_for_purchase(self, providers: list[Provider]) -> None:
        """Hook of the compute market: hardware is what each provider may buy now."""
        if self.gpu_market is not None:
            for p in providers:
                self.gpu_market.equip_for_purchase(p)
                for site in p.sites:
                    self.gpu_market.equip_for_purchase(site, site.region)

    def _follow_authors(self) -> None:
        """Hook of open-weights hosting: a host serves its author's current weights."""
        for host, author in enumerate(self.author):
            if host != author:
                model = self.provider_list[author]
                self.provider_list[host].compute_per_token = model.compute_per_token
                self.provider_list[host].capability = model.capability

    def _equip_fleet(self) -> None:
        """Hook of the compute market: the month's bills are those of each fleet's mix."""
        if self.gpu_market is not None:
            for p in self.provider_list:
                if p.active:
                    working = self.gpu_market.equip_fleet(p, self.steps)
                    for site in p.sites:
                        working |= self.gpu_market.equip_fleet(site, self.steps)
                    self.gpu_market.port(p, working)

    def _available(self) -> np.ndarray:
        """(n, products): products of active providers a developer knows of and may use."""
        active = np.array([p.active for p in self.provider_list])
        pop = self.population
        return (pop.aware & pop.access & active)[:, self.product_provider]

    def _choice_weights(self, available: np.ndarray | None = None) -> demand.ChoiceWeights:
        """Every developer's logit weights at this month's offers.

        Over the choice set `available` (developers x providers); by default today's.
        """
        v_inside, v_outside = self._cell_utilities()
        available = self._available() if available is None else available
        return demand.ChoiceWeights.of(
            self.population, v_inside, v_outside, available, self.spec.market.mu
        )

    def _cell_utilities(self) -> tuple[np.ndarray, np.ndarray]:
        market = self.spec.market
        extra = np.array([p.extra_latency_ms for p in self.provider_list])
        latency = (self.routes.latency_ms(self.steps) + extra)[:, self.product_provider]
        home = self.home[self.product_provider]
        trust = np.where(
            np.arange(self.n_regions)[:, None] == home[None, :], market.home_bias_utils, 0.0
        )
        return demand.cell_utilities(
            alpha=self.segment_alpha,
            beta=self.segment_beta,
            gamma=self.segment_gamma,
            u0=self.segment_u0,
            price_usd_per_mtok=self._prices()[:-1] * self.task_factor,
            quality=self._product_quality(),
            latency_ms=latency,
            trust=trust,
            outside_price_usd_per_mtok=market.outside_price_usd_per_mtok,
            outside_quality=self.outside_quality,
            price_utility=market.price_utility,
        )

    @property
    def outside_quality(self) -> float:
        """Quality of the outside option: it trails the best model on offer by a set gap.

        Self-hosting runs open weights, which come from the same diffusion as the laggards'
        models; tying it to the research frontier instead would let the outside option pass
        every API whenever diffusion is slow.
        """
        active = np.array([p.active for p in self.provider_list])[self.product_provider]
        best = self._product_quality()[active].max(initial=0.0)
        return float(best) - self.spec.market.outside_quality_gap

    def _task_prices(self) -> np.ndarray:
        """Price x tokens-per-task factor of each product, outside last (USD/Mtok).

        The cost of a task on it, up to the segment's tokens per task: what developers compare.
        """
        return self._prices() * np.append(self.task_factor, 1.0)

    def _developer_demand_mtok(self, product: np.ndarray) -> np.ndarray:
        """Each developer's Mtok this month if it buys `product` (one per developer; -1 outside).

        Tasks times tokens per task: its task demand, times the tier's tokens-per-task factor,
        times the intensive margin on cost per task, tasks = t0 (c / c_ref) ** -eta, with c
        the product's task price now and c_ref the one when the developer chose it: a short-
        run response to price changes (cal B.7: about -1.1), while the choice between cheap
        and dear products is the logit's, on cost per task. So a reasoning tier cheaper per
        token but dearer per task loses choosers, and a rising price cuts its customers' use.
        """
        eta = self.spec.market.demand_elasticity
        ratio = self._task_prices()[product] / self.population.reference_task_price
        factor = np.append(self.task_factor, 1.0)[product]
        return self._task_demand_mtok() * factor * ratio**-eta

    def _task_demand_mtok(self) -> np.ndarray:
        """Each developer's tasks this month times its segment's tokens per task, in Mtok.

        `base_demand_mtok` is tasks at the start times the segment's `tokens_per_task` (it
        grows at the region's rate); tokens per task grow at the segment's agentic rate.
        """
        pop = self.population
        return pop.base_demand_mtok * self._tokens_per_task_growth_factor()[pop.segment]

    def _tokens_per_task_growth_factor(self) -> np.ndarray:
        """Each segment's tokens per task now over at the start (agentic growth)."""
        return (1.0 + self.tokens_per_task_growth) ** self.steps

    def _prices(self) -> np.ndarray:
        """Posted prices by product index, the outside option last (OUTSIDE = -1 indexes it).

        A tier's price is its provider's posted price times its compute share: the provider
        prices its reference model and every tier at the same markup over its unit cost
        (`Provider.tier_prices`).
        """
        tiers = np.concatenate([p.tier_prices for p in self.provider_list])
        return np.append(tiers, self.spec.market.outside_price_usd_per_mtok)

    def _product_quality(self) -> np.ndarray:
        """Quality of each product: its provider's capability + slope ln(its compute)."""
        return np.concatenate([p.tier_qualities for p in self.provider_list])

    def _demand_by_product(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Requested Mtok per product, each developer's Mtok at its choice, the inside mask."""
        choice = self.population.choice
        inside = choice != OUTSIDE
        d = self._developer_demand_mtok(choice)
        # float even when nobody is inside (bincount of nothing is int64)
        requested = np.bincount(
            choice[inside], weights=d[inside], minlength=self.compute_share.size
        )
        return requested.astype(float), d, inside

    def _demand_weighted(self, values: np.ndarray) -> float:
        return metrics.weighted_mean(values, self.population.base_demand_mtok)

    @property
    def discount_factor(self) -> float:
        """Discount factor of the current month, from the scenario's annual rate."""
        return (1.0 + self.spec.market.discount_rate_per_year) ** (-self.steps / 12.0)

    # ----------------------------------------------------------------- the month
    def step(self) -> None:
        """One month of the market."""
        for shock in self._shocks_by_step.get(self.steps, ()):
            self._apply(shock)
        self.routes.buy(self.provider_list, self.steps)
        self.providers.select(lambda p: not p.active).do("go_dark")
        self.population.base_demand_mtok *= 1.0 + self.demand_growth[self.population.region]
        self._equip_for_purchase([p for p in self.provider_list if p.active])
        self.providers.select(lambda p: p.active).do("decide", self._observe())
        self._build_sites()
        self._consider_entry()
        self.providers.do("update_capacity")
        self._diffuse_awareness()
        self._choose()
        self._equip_fleet()
        self._clear()
        self._account()
        self._update_quality()
        self.datacollector.collect(self)

    def _apply(self, shock: Shock) -> None:
        """A scheduled event, at the start of its month (MODEL.md step 1)."""
        names = self.spec.region_names
        homed = [
            p
            for p in self.provider_list
            if self.spec.region_names[p.home] == getattr(shock, "region", None)
        ]
        match shock:
            case ElectricityShock(region=region, factor=factor):
                self.power_price_factor[names.index(region)] *= factor
                for stack in [*homed, *self._sited_in(region)]:
                    stack.own_electricity_usd_per_kwh *= factor
            case CarbonShock(region=region, usd_per_kwh=price):
                self.carbon_usd_per_kwh[names.index(region)] = price
            case DemandGrowthShock(region=region, per_month=rate):
                self.demand_growth[names.index(region)] = rate
            case EfficiencyShock(region=region, factor=factor):
                for stack in [*homed, *self._sited_in(region)]:
                    stack.energy_kwh_per_mtok *= factor
            case CapacityLimitShock(max_growth_per_month=limit):
                for p in homed:
                    p.capacity_growth_limit = limit
            case QualityShock(provider=name, points=points, awareness=news):
                releaser = next(p for p in self.provider_list if p.name == name)
                releaser.quality += points
                if news > 0:
                    heard = self._news(releaser, 0) < news
                    self.population.aware[:, releaser.index] |= heard
            case AccessShock():
                self._change_access(
                    names.index(shock.developer_region), names.index(shock.home), shock.probability
                )
            case GpuAccessShock(region=region, gpu=gpu, allowed=allowed) if self.gpu_market:
                self.gpu_market.set_access(names.index(region), gpu, allowed)
            case EntryShock(provider=spec):
                self._enter(next(p for p in self.provider_list if p.name == spec.name))

    def _sited_in(self, region: str) -> list[sites.Site]:
        """The sites built in `region`: a shock to its power or fleets reaches them too."""
        r = self.spec.region_names.index(region)
        return [s for p in self.provider_list for s in p.sites if s.region == r]

    def _change_access(self, developer_region: int, home: int, probability: float) -> None:
        """Re-threshold the kept draws of one matrix entry; customers cut off must move."""
        pop = self.population
        self.access_probability[developer_region, home] = probability
        rows = np.flatnonzero(pop.region == developer_region)
        allowed = pop.access_draw[rows, home] < probability
        chosen = self.chosen_provider()[rows]
        for j in np.flatnonzero(self.home == home):
            pop.access[rows, j] = allowed
            pop.must_review[rows[(chosen == j) & ~allowed]] = True

    def _enter(self, entrant: Provider, plan: entry.EntryPlan | None = None) -> None:
        """An entrant: awareness drawn now, and a fleet.

        A scheduled entrant replays history: its fleet, sized from its expected demand, comes
        paid for. An entrant by value (`plan`) launches at its planned price with its
        planned first fleet and pays its entry cost this month: the capex of that fleet (the
        pipeline of its first months included) and its sunk cost, in `capex_paid_usd` (so in
        free cash flow and DCF, not amortized).
        """
        pop = self.population
        entrant.active = True
        entrant.entry_step = self.steps
        awareness = self._initial_awareness(entrant)[pop.region]
        pop.aware[:, entrant.index] = self._news(entrant, 1) < awareness
        self._equip_for_purchase([entrant])
        if plan is None:
            probabilities = self._choice_weights().probabilities()[:, :-1]
            expected, growth = self._expected_demand(probabilities)
            j = entrant.index
            entrant.install_initial_capacity(
                self._initial_capacity(entrant, float(expected[j])), growth[j]
            )
            return
        entrant.price_usd_per_mtok = plan.price_usd_per_mtok
        entrant.install_initial_capacity(plan.capacity_mtok, plan.growth_per_month)
        bought = entrant.capacity_mtok + sum(v.capacity_mtok for v in entrant.fleet.orders)
        entrant.capex_paid_usd = bought * entrant.capex_per_unit_usd + plan.sunk_cost_usd
        entrant.cash_usd -= entrant.capex_paid_usd

    def _site_draws(self) -> np.ndarray:
        """One uniform per scenario site (its host's permission), keyed by provider and host."""
        by_name = {p.name: p for p in self.provider_list}
        names = self.spec.region_names
        return np.array(
            [
                self.streams.uniform(
                    Purpose.SITE, 0, 1, by_name[s.provider].key, names.index(s.region)
                )[0]
                for s in self.spec.sites
            ]
        )

    def _build_sites(self) -> None:
        """Sites ordered this month: dated ones on their date, the others when worth it.

        A dated site waits for its owner to be in the market; a site decided by value is
        weighed every `entry_review_months`, as entry is (`model/sites.py`).
        """
        market = self.spec.market
        review = self.steps % market.entry_review_months == 0
        for option in list(self.site_options):
            owner = self.provider_list[option.provider]
            if not owner.active:
                continue
            dated = option.order_step()
            if dated is not None:
                if self.steps >= dated:
                    self._order_site(option, self._site_for(owner, option))
                continue
            if not (review and option.permitted and self.steps >= option.spec.earliest_step):
                continue
            candidate = self._site_for(owner, option)
            sunk = option.spec.sunk_cost_usd
            value = self._site_value(owner, option, candidate)
            affordable = sunk <= owner.cash_usd + owner.credit_line_usd
            if value > 0 and value >= market.entry_hurdle * sunk and affordable:
                self._order_site(option, candidate)

    def _site_for(self, owner: Provider, option: sites.SiteOption) -> sites.Site:
        """The site an option would be if ordered now, equipped with what it may buy there."""
        site = sites.Site(owner, option, self.steps)
        if self.gpu_market is not None:
            self.gpu_market.equip_for_purchase(site, site.region)
        return site

    def _order_site(self, option: sites.SiteOption, site: sites.Site) -> None:
        """Order a site: its owner pays its sunk cost now; it serves from its opening month."""
        owner = site.owner
        owner.sites.append(site)
        self.site_options.remove(option)
        self.site_slots[self.spec.sites.index(option.spec)] = site
        self.routes.add_site(owner.index, site.open_step, site.latency_ms)
        owner.capex_paid_usd += option.spec.sunk_cost_usd
        owner.cash_usd -= option.spec.sunk_cost_usd

    def _locations_ms(self, owner: Provider, built: list[sites.Site]) -> np.ndarray:
        """[developer region, location] round trip to its home (first) and to `built` sites."""
        return np.column_stack(
            [self.routes.public_ms[:, owner.index], *(s.latency_ms for s in built)]
        )

    def _site_value(self, owner: Provider, option: sites.SiteOption, site: sites.Site) -> float:
        """Present value of building `site` now (USD): demand it wins, cost it saves (sites.py).

        Logit demand at this month's weights (`self._weights`, last month's choice set and
        offers): each developer's probability of choosing the owner rises with the latency the
        site saves it, gamma x ms / mu utils on every tier of its line.
        """
        market, pop = self.spec.market, self.population
        j = owner.index
        site_ms = site.latency_ms
        saved = np.maximum(self.routes.latency_ms(self.steps)[:, j] - site_ms, 0.0)
        du = self.segment_gamma[pop.segment] * saved[pop.region] / market.mu
        products = self.product_provider == j
        weights = self._weights.weights
        own_by_product = weights[:, np.append(products, False)]
        own = own_by_product.sum(axis=1)
        total = weights.sum(axis=1)
        load = (self.task_factor * self.compute_share)[products]
        mix = np.divide(own_by_product @ load, own, out=np.zeros_like(own), where=own > 0)
        before = np.divide(own, total, out=np.zeros_like(own), where=total > 0)
        raised = own * np.exp(du)
        after = np.divide(raised, total - own + raised, out=np.zeros_like(own), where=total > 0)
        won_mtok = float((self._task_demand_mtok() * mix * (after - before)).sum())
        locations = self._locations_ms(owner, owner.sites)
        nearer = site_ms < locations.min(axis=1)
        moved_mtok = float(self._region_load[nearer, j].sum())
        u = owner.strategy.params.target_utilization
        at_site = site.unit_cost(u)
        gain = (
            won_mtok * (owner.price_usd_per_mtok - at_site)
            + moved_mtok * (owner.unit_cost(u) - at_site)
            - option.spec.opex_fixed_usd_per_month
        )
        return sites.value_usd(
            gain,
            site.open_step - self.steps,
            market.discount_rate_per_year,
            market.terminal_growth_per_year,
        )

    def _consider_entry(self) -> None:
        """Every `entry_review_months`, each waiting potential entrant weighs entering.

        In the scenario's order, each seeing the ones that entered before it: sequential
        entry, so two entrants do not both count on a market only one of them can live in.
        Decided after incumbents post their prices, so an entrant prices against this
        month's offers; it decides its own price from next month.
        """
        market = self.spec.market
        if self.steps % market.entry_review_months:
            return
        weights = None
        review = self._demand_weighted(self.population.review_probability)
        for waiting, terms in list(self._waiting):
            if self.steps < terms.earliest_step:
                continue
            if weights is None:  # again after an entry: the next candidate sees the entrant
                weights = self._waiting_weights()
            self._equip_for_purchase([waiting])
            active = [p.price_usd_per_mtok for p in self.provider_list if p.active]
            prices = entry.price_grid(np.array(active))
            demand_mtok, growth = self._entrant_demand(waiting, prices, weights)
            plan = entry.plan(
                waiting, prices, demand_mtok, growth, terms.sunk_cost_usd, market, review
            )
            if plan.worth_it(market.entry_hurdle):
                self._waiting.remove((waiting, terms))
                self._enter(waiting, plan)
                weights = None

    def _waiting_weights(self) -> np.ndarray:
        """Logit weights (developers x providers + outside) at today's offers.

        Every waiting candidate is offered to the developers with access to it: one
        computation serves them all.
        """
        available = self._available()
        for waiting, _ in self._waiting:
            products = self.product_provider == waiting.index
            available[:, products] = self.population.access[:, [waiting.index]]
        return self._choice_weights(available).weights

    def _entrant_demand(
        self, candidate: Provider, prices_usd_per_mtok: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A candidate's expected logit demand (Mtok/month) and its growth, at each price.

        Each developer with access to it chooses among it, the providers in the market and
        the outside option (`weights`: `_waiting_weights`); its weight at price p is its
        weight at its listed price p0 times exp(-alpha (f(p) - f(p0)) / mu) (the logit of
        `demand.cell_utilities`), in logs so that no price overflows. Its tiers move
        together (exact with log price utility, where a price change shifts every tier's
        log cost per task alike), each counting its tokens per task and compute share. Each
        developer counts with the probability of being aware of it at entry. Demand is at
        the price it would be chosen at, so the intensive margin does not enter.
        """
        pop, mu = self.population, self.spec.market.mu
        products = self.product_provider == candidate.index
        active = np.array([p.active for p in self.provider_list])
        in_market = np.append(active[self.product_provider], True)  # outside last
        others = weights[:, in_market].sum(axis=1)
        own = weights[:, np.append(products, False)]
        own_weight = own.sum(axis=1)
        load = (self.task_factor * self.compute_share)[products]
        mix = np.divide(own @ load, own_weight, out=np.zeros_like(own_weight), where=own_weight > 0)
        kind = self.spec.market.price_utility
        shift = demand.price_term(prices_usd_per_mtok, kind) - demand.price_term(
            np.array(candidate.price_usd_per_mtok), kind
        )
        with np.errstate(divide="ignore"):
            log_odds = np.log(own_weight)[:, None] - np.log(others)[:, None]
        alpha = self.segment_alpha[pop.segment][:, None]
        chosen = expit(log_odds - alpha * shift[None, :] / mu)
        weight = self._initial_awareness(candidate)[pop.region] * self._task_demand_mtok() * mix
        expected = weight @ chosen
        growing = (weight * self.demand_growth[pop.region]) @ chosen
        growth = np.divide(growing, expected, out=np.zeros_like(expected), where=expected > 0)
        return expected, growth

    def _news(self, provider: Provider, event: int) -> np.ndarray:
        """Every developer's NEWS draw this month about a provider's event (0 release, 1 entry).

        Keyed by the provider's name and the event, so who hears does not depend on other
        events' draws nor on the provider's list position.
        """
        return self.streams.uniform(
            Purpose.NEWS, self.steps, self.population.size, provider.key, event
        )

    def _observe(self) -> _Observed:
        market = self.spec.market
        alpha = self.segment_alpha[self.population.segment]
        return _Observed(
            step=self.steps,
            price_usd_per_mtok=np.array([p.price_usd_per_mtok for p in self.provider_list]),
            quality=np.array([p.quality for p in self.provider_list]),
            active=np.array([p.active for p in self.provider_list]),
            demand_share=np.array([p.demand_share for p in self.provider_list]),
            outside_share=self.outside_share,
            price_sensitivity=self._demand_weighted(alpha) / market.mu,
            price_utility=market.price_utility,
            population=self.population,
            chosen_provider=self.chosen_provider(),
        )

    def _diffuse_awareness(self) -> None:
        market = self.spec.market
        base = np.array(
            [
                market.awareness_base
                * (market.open_weights_awareness_multiplier if p.open_weights else 1.0)
                for p in self.provider_list
            ]
        )
        shares = demand.developer_share_by_region(
            self.population, self.n_regions, len(self.provider_list), self.product_provider
        )
        demand.diffuse_awareness(
            self.population,
            base,
            market.awareness_word_of_mouth,
            shares,
            self.streams,
            self.steps,
            [p.key for p in self.provider_list],
        )

    def _choose(self) -> None:
        pop = self.population
        self._weights = self._choice_weights()
        review = self.streams.uniform(Purpose.REVIEW, self.steps, pop.size)
        reviewers = np.flatnonzero((review < pop.review_probability) | pop.must_review)
        new = demand.choose(
            pop,
            reviewers,
            self._weights,
            self.streams,
            self.steps,
            self._option_keys,
            **self._nesting,
        )
        moved = reviewers[new != pop.choice[reviewers]]
        pop.choice[reviewers] = new
        pop.reference_task_price[moved] = self._task_prices()[pop.choice[moved]]
        pop.must_review[:] = False

    def _clear(self) -> None:
        """Serve min(demand, capacity); rationed demand spills to the next choice, or is lost.

        Capacity is the provider's, shared by its tiers: a token of a tier uses its compute
        share of a unit (Mtok of the reference model), so a provider's load is its tiers'
        requests weighted by their shares. A short provider serves each customer of each of
        its tiers the same fraction of its request (random rationing would serve some fully,
        some not; the expected split is the same) and each of them must review next month
        with probability equal to the unserved fraction. Unmet demand first spills (`_spill`)
        to spare capacity elsewhere this month. Conservation, every month, in Mtok of tokens,
        per product, per provider and in all: requested = served directly + spilled, spilled
        = served after spilling (elsewhere) + lost, so requested = served + lost.
        """
        pop = self.population
        requested, d, inside = self._demand_by_product()
        share, owner = self.compute_share, self.product_provider
        load = self._by_provider(requested * share)
        capacity = np.array([p.capacity_mtok for p in self.provider_list])
        direct_load = np.minimum(load, capacity)
        provider_fill = np.divide(direct_load, load, out=np.ones_like(load), where=load > 0)
        fill = provider_fill[owner]
        customers = np.flatnonzero(inside)
        chosen = pop.choice[customers]
        short = (1.0 - fill)[chosen]
        rationing = self.streams.uniform(Purpose.RATIONING, self.steps, pop.size, rows=customers)
        pop.must_review[customers] = rationing < short
        rationed = customers[short > 0.0]
        asked, spill_served = self._spill(
            rationed, d, fill, np.maximum(capacity - direct_load, 0.0)
        )
        n_segments, n_products = len(self.spec.segments), owner.size
        to = np.tile(np.arange(n_products), rationed.size)
        spilled_segment = np.repeat(pop.segment[rationed], n_products)
        first_demand = metrics.cross_sum(
            pop.segment[customers], chosen, d[customers], (n_segments, n_products)
        )
        self.flows_mtok = metrics.flows_by_region(
            pop.region[customers],
            self.home[owner[chosen]],
            d[customers] * fill[chosen],
            self.n_regions,
        ) + metrics.flows_by_region(
            np.repeat(pop.region[rationed], n_products),
            self.home[owner[to]],
            spill_served.ravel(),
            self.n_regions,
        )
        site_served = self._serve_from_sites(customers, chosen, d, fill, rationed, to, spill_served)
        segment_served = first_demand * fill + metrics.cross_sum(
            spilled_segment, to, spill_served.ravel(), (n_segments, n_products)
        )
        self.segment_demand_mtok = self._by_provider(
            first_demand
            + metrics.cross_sum(spilled_segment, to, asked.ravel(), (n_segments, n_products))
        )
        self.segment_served_mtok = self._by_provider(segment_served)
        self.segment_spend_usd = self._by_provider(segment_served * self._prices()[:-1])
        spill_in = spill_served.sum(axis=0)
        served = requested * fill + spill_in
        spilled = requested * (1.0 - fill)
        served_elsewhere = np.bincount(
            pop.choice[rationed], weights=spill_served.sum(axis=1), minlength=n_products
        )
        self._record_products(
            requested, served, spill_in, spilled, served_elsewhere, segment_served
        )
        tokens, asked_load = self._by_provider(served), self._by_provider(asked.sum(axis=0) * share)
        served_load = direct_load + self._by_provider(spill_in * share)
        requested_tokens = self._by_provider(requested)
        outside = float(d[~inside].sum())
        n_providers = len(self.provider_list)
        counts = np.bincount(owner[chosen], minlength=n_providers)
        developers = np.bincount(
            owner[chosen], weights=pop.weight[customers], minlength=n_providers
        )
        total_served = tokens.sum()
        congestion = self.spec.market.congestion_ms_per_unserved
        for p in self.provider_list:
            j = p.index
            p.customers = int(counts[j])
            p.developer_share = developers[j] / pop.weight.sum()
            p.tokens_mtok = float(tokens[j])
            p.token_share = tokens[j] / total_served if total_served > 0 else 0.0
            p.demand_share = requested_tokens[j] / (requested.sum() + outside)
            p.extra_latency_ms = congestion * (1.0 - provider_fill[j])
            if p.active:
                p.settle(load[j] + asked_load[j], served_load[j], site_served.get(j, ()))
        self.hhi = metrics.hhi(tokens)
        self.mean_price_usd_per_mtok = metrics.weighted_mean(self._prices()[:-1], served)
        self.requested_mtok = float(requested.sum())
        self.spilled_mtok = float(spilled.sum())
        self.spill_served_mtok = float(spill_in.sum())
        self.lost_mtok = max(0.0, self.spilled_mtok - self.spill_served_mtok)
        self.total_demand_mtok = float(requested.sum() + outside)
        self.total_served_mtok = float(total_served)
        self.outside_share = outside / self.total_demand_mtok if self.total_demand_mtok > 0 else 1.0
        self.cross_border_share = metrics.cross_border_share(self.flows_mtok)
        self.cross_border_export_share, self.cross_border_investment_share = (
            metrics.cross_border_by_route(self.site_flows_mtok)
        )
        self._record_sites()
        self.consumer_surplus = float(np.average(self._weights.log_sum(), weights=pop.weight))

    def _serve_from_sites(
        self,
        customers: np.ndarray,
        chosen: np.ndarray,
        d: np.ndarray,
        fill: np.ndarray,
        rationed: np.ndarray,
        to: np.ndarray,
        spill_served: np.ndarray,
    ) -> dict[int, list[float]]:
        """Where each provider's served tokens came from: home, or its sites (`model/sites.py`).

        Returns what each site of each provider with sites served (Mtok of its reference
        model), and sets `site_flows_mtok`: `flows_mtok` with a site axis, the tokens of a
        provider with open sites split as its load is (`sites.allocate`, nearest first),
        so that summed over sites it is `flows_mtok`. Also each site's share of its owner's
        requested load by nearest location (`Site.preferred_share`, for where new capacity
        goes) and every provider's served load by developer region (for the build decision).
        """
        n = self.n_regions
        home_only = np.zeros((n, n, n))
        home_only[:, np.arange(n), np.arange(n)] = self.flows_mtok
        self.site_flows_mtok = home_only
        if not self.spec.sites:
            return {}
        pop, owner, share = self.population, self.product_provider, self.compute_share
        shape = (n, len(self.provider_list))
        spill_region = np.repeat(pop.region[rationed], owner.size)
        region, provider = pop.region[customers], owner[chosen]
        served = d[customers] * fill[chosen]
        tokens = metrics.cross_sum(region, provider, served, shape) + metrics.cross_sum(
            spill_region, owner[to], spill_served.ravel(), shape
        )
        self._region_load = metrics.cross_sum(
            region, provider, served * share[chosen], shape
        ) + metrics.cross_sum(spill_region, owner[to], (spill_served * share).ravel(), shape)
        requested = metrics.cross_sum(region, provider, d[customers] * share[chosen], shape)
        out = {}
        for p in self.provider_list:
            if not p.sites or not p.active:
                continue
            j = p.index
            everywhere = self._locations_ms(p, p.sites)
            preferred = sites.nearest_shares(requested[:, j], everywhere)[1:]
            for site, site_share in zip(p.sites, preferred, strict=True):
                site.preferred_share = float(site_share)
            open_now = np.array([True] + [s.open_step <= self.steps for s in p.sites])
            capacity = np.array([p.home_capacity_mtok] + [s.capacity_mtok for s in p.sites])
            allocated = sites.allocate(
                self._region_load[:, j], np.where(open_now, capacity, 0.0), everywhere
            )
            out[j] = allocated[:, 1:].sum(axis=0).tolist()
            fraction = np.divide(
                allocated,
                self._region_load[:, [j]],
                out=np.zeros_like(allocated),
                where=self._region_load[:, [j]] > 0,
            )
            for k, site in enumerate(p.sites, start=1):
                moved = tokens[:, j] * fraction[:, k]
                self.site_flows_mtok[:, p.home, site.region] += moved
                self.site_flows_mtok[:, p.home, p.home] -= moved
        return out

    def _record_sites(self) -> None:
        """The month's `site_table` (SITE_COLUMNS), one row per scenario site (zeros unbuilt)."""
        self.site_table = np.zeros((len(self.site_slots), len(SITE_COLUMNS)))
        for row, site in enumerate(self.site_slots):
            if site is None:
                continue
            self.site_table[row] = [
                1.0,
                float(site.open_step <= self.steps and site.owner.active),
                site.capacity_mtok,
                site.served_mtok,
                site.electricity_usd_per_kwh,
                site.pue,
                site.energy_kwh,
                site.electricity_usd,
                site.capex_usd,
                site.opex_usd,
                site.gpu,
            ]

    def _record_products(
        self,
        requested: np.ndarray,
        served: np.ndarray,
        spill_in: np.ndarray,
        spilled: np.ndarray,
        served_elsewhere: np.ndarray,
        segment_served: np.ndarray,
    ) -> None:
        """The month's `product_table` (PRODUCT_COLUMNS): what was offered and what it sold.

        Tasks are served Mtok over tokens per task, segment by segment (a segment's
        `tokens_per_task`, grown at its agentic rate, times the tier's factor).
        """
        start = np.array([s.tokens_per_task for s in self.spec.segments])
        tokens_per_task = np.outer(start * self._tokens_per_task_growth_factor(), self.task_factor)
        compute = np.array([p.compute_per_token for p in self.provider_list])
        columns = {
            "price_usd_per_mtok": np.where(
                np.array([p.active for p in self.provider_list])[self.product_provider],
                self._prices()[:-1],
                np.nan,
            ),
            "quality": self._product_quality(),
            "compute_kwh_per_mtok": compute[self.product_provider] * self.compute_share,
            "tokens_per_task_factor": self.task_factor,
            "requested_mtok": requested,
            "served_mtok": served,
            "spill_in_mtok": spill_in,
            "spilled_mtok": spilled,
            "spill_served_mtok": served_elsewhere,
            "lost_mtok": np.maximum(spilled - served_elsewhere, 0.0),
            "tasks": (segment_served * 1e6 / tokens_per_task).sum(axis=0),
        }
        self.product_table = np.column_stack([columns[c] for c in PRODUCT_COLUMNS])

    def _spill(
        self, rationed: np.ndarray, d: np.ndarray, fill: np.ndarray, spare_mtok: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unserved demand of `rationed` customers, sent to their next choice this month.

        Returns (rationed x products) Mtok asked of each product, and Mtok it served. `fill`
        is per product, `spare_mtok` per provider (in Mtok of its reference model).
        A rationed customer's unserved share goes to its second choice: under logit the
        ranking of options is Plackett-Luce (Luce 1959; Train 2009, ch. 7.3), so given that
        its product j was best, the next best is k with probability w_k / (W - w_j), the
        outside option included; the expected split is sent, without a draw. This is how API
        buyers overflow (routers such as OpenRouter fall back to the next provider when one
        is rate-limited), at the fallback's price, for the quantity first requested. A
        provider serves spilled demand up to its spare capacity, every asker of each of its
        tiers the same fraction (another tier of a short provider finds none); what finds no
        spare capacity, or goes to the outside option, is lost for the month (one round: no
        third choice). The customer itself reviews next month (`_clear`).
        """
        n_products = self.product_provider.size
        if rationed.size == 0:
            return np.zeros((0, n_products)), np.zeros((0, n_products))
        first = self.population.choice[rationed]
        w = np.take(self._weights.weights, rationed, axis=0)
        w[np.arange(rationed.size), first] = 0.0
        total = w.sum(axis=1, keepdims=True)
        unserved = d[rationed] * (1.0 - fill[first])
        to = np.divide(
            unserved[:, None] * w[:, :-1], total, out=np.zeros_like(w[:, :-1]), where=total > 0
        )
        asked = self._by_provider(to.sum(axis=0) * self.compute_share)
        taken = np.divide(
            np.minimum(asked, spare_mtok), asked, out=np.zeros_like(asked), where=asked > 0
        )
        return to, to * taken[self.product_provider]

    def _account(self) -> None:
        """Exits after the month is booked; an exited provider's customers must choose again."""
        self.exits = 0
        for p in self.provider_list:
            if p.active and p.should_exit():
                p.exit()
                self.population.must_review[self.chosen_provider() == p.index] = True
                self.exits += 1
        self.entries = sum(p.active and p.entry_step == self.steps for p in self.provider_list)
        active = [p for p in self.provider_list if p.active]
        self.active_providers = len(active)
        self.energy_kwh = float(sum(p.energy_kwh for p in self.provider_list))

    def _update_quality(self) -> None:
        """R&D, then the frontier advances, then every model diffuses toward where it was.

        R&D has diminishing returns relative to market revenue; progress is research made
        public (papers, open weights, distillation), so no provider rides the frontier by
        assumption: each closes `homogenization` of its gap to where the frontier was
        `diffusion_lag_months` ago (`model/frontier.py`). So do potential entrants while
        they wait (they learn from the same published research), or one weighing entry in
        year five would bring a model of year one.
        """
        market = self.spec.market
        active = [p for p in self.provider_list if p.active]
        revenue = sum(p.revenue_usd for p in active)
        if revenue > 0:
            for p in active:
                p.quality += market.rnd_effectiveness * np.log1p(
                    p.rnd_usd / (market.rnd_scale * revenue)
                )
        best = max((p.capability for p in active), default=self.frontier_capability)
        self.frontier_capability = frontier.advance(
            self.frontier_capability, market.frontier_drift_per_month, best
        )
        self._frontier_path.append(self.frontier_capability)
        lagged = self._frontier_path[
            max(0, len(self._frontier_path) - 1 - market.diffusion_lag_months)
        ]
        for p in active + [waiting for waiting, _ in self._waiting]:
            p.capability = float(frontier.diffuse(p.capability, lagged, market.homogenization))
        self._follow_authors()
        self.frontier_quality = self._frontier_quality()

    def _frontier_quality(self) -> float:
        """q_max at the largest compute per token on offer: the best quality reachable now."""
        compute = max(
            (p.compute_per_token * p.compute_share.max() for p in self.provider_list if p.active),
            default=1.0,
        )
        slope = self.spec.market.quality_per_log_compute
        return float(frontier.quality(self.frontier_capability, compute, slope))

    # ----------------------------------------------------------------- outputs
    run_id: str | None = None
    """A label for this run on every frame (a sweep sets its run's id); None: name and seed."""

    def _tagged(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the run's label and seed first, and the calendar `date` after `step`.

        The seed is the run's integer seed, the root of its random streams. `date` is the
        first day of the month, step 1 being the scenario's `start` month.
        """
        label = self.run_id or f"{self.spec.name}-seed{self.streams.seed}"
        frame = frame.assign(date=month_dates(self.spec.start, frame["step"]))
        frame.insert(0, "seed", self.streams.seed)
        frame.insert(0, "run_id", label)
        return frame[[*FRAME_KEYS, *(c for c in frame.columns if c not in FRAME_KEYS)]]

    def provider_frame(self) -> pd.DataFrame:
        """One row per month and provider: prices, shares, flows, each cost line, cash, quality."""
        if self.datacollector.model_vars["step"]:
            raw = self.datacollector.get_agenttype_vars_dataframe(Provider).reset_index()
        else:  # before the first month: the columns, no rows
            raw = pd.DataFrame(columns=["Step", "AgentID", "provider", *PROVIDER_COLUMNS])
        by_id = {p.unique_id: p for p in self.provider_list}
        frame = pd.DataFrame(
            {
                "step": raw["Step"].astype(int),
                "provider": raw["AgentID"].map(lambda i: by_id[i].name),
                "region": raw["AgentID"].map(lambda i: by_id[i].region),
                "strategy": raw["AgentID"].map(lambda i: by_id[i].strategy_name),
            }
        )
        frame = pd.concat(
            [
                frame,
                raw[list(PROVIDER_COLUMNS)]
                .astype(float)
                .assign(active=raw["active"].astype(bool), customers=raw["customers"].astype(int)),
            ],
            axis=1,
        )
        out_of_market = ~frame["active"] & (frame["capacity_mtok"] == 0)
        frame["price_usd_per_mtok"] = frame["price_usd_per_mtok"].mask(out_of_market)
        return self._tagged(_with_missing(frame))

    def market_frame(self) -> pd.DataFrame:
        """One row per month: concentration, prices, volumes, surplus, cross-border share."""
        frame = self.datacollector.get_model_vars_dataframe().drop(columns=list(ARRAY_REPORTERS))
        return self._tagged(_with_missing(frame.astype({"step": int, "active_providers": int})))

    def turnover_frame(self) -> pd.DataFrame:
        """One row per entry or exit: `step`, `provider`, `event` (`entry.turnover`)."""
        incumbents = {p.name for p in self.spec.providers}
        return self._tagged(entry.turnover(self.provider_frame(), incumbents))

    def strategy_frame(self) -> pd.DataFrame:
        """One row per month and strategy: its providers' summed shares and profit."""
        return (
            self.provider_frame()
            .groupby([*FRAME_KEYS, "strategy"], as_index=False)
            .agg(
                token_share=("token_share", "sum"),
                developer_share=("developer_share", "sum"),
                profit_usd=("profit_usd", "sum"),
                active_providers=("active", "sum"),
            )
        )

    def segment_frame(self) -> pd.DataFrame:
        """One row per month, segment and provider: demand and served Mtok, share of the segment.

        `token_share` is the provider's share of the tokens served to the segment that month
        (0 when the segment bought none): who wins price-sensitive and quality-sensitive work.
        `spend_usd` is what the segment paid it (its tiers' prices times their tokens).
        """
        steps = np.asarray(self.datacollector.model_vars["step"], dtype=int)
        shape = (len(steps), len(self.spec.segments), len(self.provider_list))
        demand_mtok, served_mtok, spend_usd = (
            np.array(self.datacollector.model_vars[name], dtype=float).reshape(shape)
            for name in ("segment_demand_mtok", "segment_served_mtok", "segment_spend_usd")
        )
        segment_total = served_mtok.sum(axis=2, keepdims=True)
        share = np.divide(served_mtok, segment_total, out=np.zeros(shape), where=segment_total > 0)
        t, seg, j = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        frame = pd.DataFrame(
            {
                "step": steps[t.ravel()],
                "segment": np.asarray([s.name for s in self.spec.segments])[seg.ravel()],
                "provider": np.asarray([p.name for p in self.provider_list])[j.ravel()],
                "demand_mtok": demand_mtok.ravel(),
                "served_mtok": served_mtok.ravel(),
                "spend_usd": spend_usd.ravel(),
                "token_share": share.ravel(),
            }
        )
        return self._tagged(frame)

    def author_frame(self) -> pd.DataFrame:
        """Tokens served per month by host and by model author (open-weights hosting).

        One row per month and provider (the host, who serves and is paid), with the author of
        the model it serves (itself, or the open-weights provider it hosts) and both home
        regions: a model's tokens go abroad when a foreign host serves them, without its author
        exporting. Summed by `author` or by `provider`, the tokens are the same.
        """
        frame = self.provider_frame()[[*FRAME_KEYS, "provider", "region", "served_mtok"]]
        names = [p.name for p in self.provider_list]
        author = {p.name: names[self.author[p.index]] for p in self.provider_list}
        region = {p.name: p.region for p in self.provider_list}
        frame = frame.rename(columns={"region": "host_region"})
        frame.insert(
            frame.columns.get_loc("host_region") + 1, "author", frame["provider"].map(author)
        )
        frame.insert(
            frame.columns.get_loc("author") + 1, "author_region", frame["author"].map(region)
        )
        return frame

    def product_frame(self) -> pd.DataFrame:
        """One row per month and product (provider x tier): offer, sales and cost per task.

        PRODUCT_COLUMNS, plus `tokens_per_task` (served tokens per task, its buyers' mix of
        segments) and `cost_per_task_usd` = price x tokens per task: what a task cost on it.
        Both are missing in a month it served nothing. `token_share` is its share of all
        tokens served that month.
        """
        steps = np.asarray(self.datacollector.model_vars["step"], dtype=int)
        n_products = self.product_provider.size
        table = np.array(self.datacollector.model_vars["product_table"], dtype=float).reshape(
            len(steps), n_products, len(PRODUCT_COLUMNS)
        )
        t, k = np.meshgrid(np.arange(len(steps)), np.arange(n_products), indexing="ij")
        names = np.asarray(self.product_names, dtype=object).reshape(n_products, 2)
        frame = pd.DataFrame(
            {
                "step": steps[t.ravel()],
                "provider": names[k.ravel(), 0].astype(str),
                "tier": names[k.ravel(), 1].astype(str),
                **{c: table[..., i].ravel() for i, c in enumerate(PRODUCT_COLUMNS)},
            }
        )
        served, tasks = frame["served_mtok"], frame["tasks"]
        frame["tokens_per_task"] = costs.share_or_missing(served.to_numpy() * 1e6, tasks.to_numpy())
        frame["cost_per_task_usd"] = frame["price_usd_per_mtok"] * frame["tokens_per_task"] / 1e6
        month_total = served.groupby(frame["step"]).transform("sum").to_numpy()
        frame["token_share"] = np.divide(
            served.to_numpy(), month_total, out=np.zeros(len(frame)), where=month_total > 0
        )
        return self._tagged(frame)

    def flow_frame(self) -> pd.DataFrame:
        """Tokens served per month from each provider home region to each developer region.

        `invested_mtok` is the part served from the home's providers' sites abroad
        (`model/sites.py`): on a `cross_border` row it is going global as investment, and
        the rest of `served_mtok` is export from home. `site_flow_frame()` has the site axis.
        """
        names = np.asarray(self.spec.region_names)
        steps = np.asarray(self.datacollector.model_vars["step"], dtype=int)
        flows = np.array(self.datacollector.model_vars["flows_mtok"], dtype=float)
        by_site = np.array(self.datacollector.model_vars["site_flows_mtok"], dtype=float)
        n = len(names)
        abroad = ~np.eye(n, dtype=bool)[None, None, :, :]  # [.., home, site]
        invested = np.where(abroad, by_site.reshape(len(steps), n, n, n), 0.0).sum(axis=3)
        t, dev, home = np.meshgrid(np.arange(len(steps)), np.arange(n), np.arange(n), indexing="ij")
        frame = pd.DataFrame(
            {
                "step": steps[t.ravel()],
                "developer_region": names[dev.ravel()],
                "home_region": names[home.ravel()],
                "served_mtok": flows.ravel(),
                "cross_border": (dev != home).ravel(),
                "invested_mtok": invested.ravel(),
            }
        )
        return self._tagged(frame)

    def site_flow_frame(self) -> pd.DataFrame:
        """Tokens served per month by developer region, provider home region and site region.

        `site_abroad`: served from the provider's site abroad, not from home. Summed over
        `site_region`, the rows are `flow_frame()`'s (up to rounding).
        """
        names = np.asarray(self.spec.region_names)
        steps = np.asarray(self.datacollector.model_vars["step"], dtype=int)
        flows = np.array(self.datacollector.model_vars["site_flows_mtok"], dtype=float)
        t, dev, home, site = np.meshgrid(
            np.arange(len(steps)), *(np.arange(len(names)),) * 3, indexing="ij"
        )
        frame = pd.DataFrame(
            {
                "step": steps[t.ravel()],
                "developer_region": names[dev.ravel()],
                "home_region": names[home.ravel()],
                "site_region": names[site.ravel()],
                "served_mtok": flows.ravel(),
                "cross_border": (dev != home).ravel(),
                "site_abroad": (site != home).ravel(),
            }
        )
        return self._tagged(frame)

    def site_frame(self) -> pd.DataFrame:
        """One row per month and site of the scenario: built, open, capacity, service, costs.

        SITE_COLUMNS, with the owner (`provider`), its `home_region`, the `site_region` and the
        GPU type's name; a site not built yet has zeros (and the first GPU's name).
        """
        steps = np.asarray(self.datacollector.model_vars["step"], dtype=int)
        n_sites = len(self.spec.sites)
        table = np.array(self.datacollector.model_vars["site_table"], dtype=float).reshape(
            len(steps), n_sites, len(SITE_COLUMNS)
        )
        t, k = np.meshgrid(np.arange(len(steps)), np.arange(n_sites), indexing="ij")
        homes = {p.name: p.home for p in self.spec.all_providers}
        owner = np.asarray([s.provider for s in self.spec.sites], dtype=object)
        gpus = [g.name for g in self.spec.gpus] or ["own"]
        frame = pd.DataFrame(
            {
                "step": steps[t.ravel()],
                "provider": owner[k.ravel()].astype(str) if n_sites else [],
                "home_region": [homes[o] for o in owner[k.ravel()]],
                "site_region": [self.spec.sites[i].region for i in k.ravel()],
                **{c: table[..., i].ravel() for i, c in enumerate(SITE_COLUMNS)},
            }
        )
        frame = frame.astype({"built": bool, "open": bool})
        frame["gpu"] = [gpus[int(g)] for g in frame["gpu"]]
        return self._tagged(frame)


def _with_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns that may be undefined as float64, a missing value as NaN (never pd.NA)."""
    columns = [c for c in MISSING_WHEN_UNDEFINED if c in frame]
    return frame.astype(dict.fromkeys(columns, "float64"))
