"""The scenario schema: what a run is made of, typed, bounded and checked for consistency.

Every number is finite and of its declared type (a boolean is not a number, "100" is not an
integer), and bounded so that the model's arithmetic stays finite: each bound below is a
documented legal range (docs/ODD.md, "Legal ranges"). Loading, errors and overrides are in
`model/scenario.py`; the knobs that change a scenario in `model/parameters.py`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Annotated, Literal, Self

import numpy as np
import tomli_w
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tokenmarket.agents.strategies import registry

FLOOR = 1e-6
"""Smallest positive price, amount per unit or quantity a scenario may hold: a quotient of a
legal amount (at most ~1e15) by a value at least this is far below float64's 1.8e308, while
a sub-normal one (~1e-308) overflows it. A millionth of a dollar, kWh, kW or Mtok (one token)
is below anything real."""


def zero_or_from_floor(high: float, unit: str) -> AfterValidator:
    """A price or cost that may be 0 (free: a theory setting), else from FLOOR to `high`."""

    def check(value: float) -> float:
        if 0.0 < value < FLOOR:
            raise ValueError(f"must be 0 or from {FLOOR:g} to {high:g} {unit} (got {value!r})")
        return value

    return AfterValidator(check)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Utils = Annotated[float, Field(ge=-100.0, le=100.0)]
"""A utility term: beyond +-100 utils exp() of it under- or overflows in the logit."""
Dispersion = Annotated[float, Field(ge=0.0, le=3.0)]
"""A lognormal sigma: at 3 the 99.9th percentile is ~10^4 times the median; beyond, a few
agents hold the whole market and their exp(sigma z) overflows float64 at sigma ~ 100."""
UsdPerKwh = Annotated[float, Field(ge=FLOOR, le=10.0)]
"""A power price: real industrial prices are 0.02-0.5 USD/kWh; from FLOOR (a divisor)."""
UsdPerMtok = Annotated[float, Field(ge=FLOOR, le=10_000.0)]
"""A token price: real API prices are 0.01-100 USD per million tokens; from FLOOR (a
divisor)."""
Money = Annotated[float, Field(ge=-1e15, le=1e15)]
"""An amount in USD, within a quadrillion: sums over agents and months stay exact enough."""
MAX_LIFE_MONTHS = 1200
"""Longest hardware life (100 years: 'never retires' in a theory scenario); the capacity
pipeline holds one vintage per month of life."""
Factor = Annotated[float, Field(ge=0.01, le=100.0)]
"""A shock's multiplier, within a factor 100 either way (a tiny one scales a price or an
energy use, both divisors, towards sub-normal)."""


class _Strict(BaseModel):
    """Strict types (no bool as a number, no numeric string), finite numbers, known keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Region(_Strict):
    """A region: where developers live and providers build data centers."""

    name: Annotated[str, Field(min_length=1)]
    population_share: Probability
    """Share of the developer population living here."""
    demand_growth_per_month: Annotated[float, Field(ge=-0.5, le=1.0)]
    """Growth rate of every local developer's token demand (fraction per month)."""
    electricity_usd_per_kwh: UsdPerKwh
    """Default industrial power price for providers homed here."""
    carbon_usd_per_kwh: Annotated[
        float, Field(ge=0.0, le=10.0), zero_or_from_floor(10.0, "USD/kWh")
    ] = 0.0
    """Carbon price added to the power price of providers homed here."""


class Segment(_Strict):
    """A developer segment: sets the tastes and the distributions of demand and inertia."""

    name: Annotated[str, Field(min_length=1)]
    population_share: Probability
    demand_median_mtok_per_month: Annotated[float, Field(ge=FLOOR, le=1e6)]
    """From one token a month: served volumes are divisors (unit cost, growth)."""
    demand_sigma: Dispersion
    """Lognormal dispersion of monthly demand across developers."""
    price_weight: Annotated[float, Field(ge=0.0, le=100.0)]
    """`alpha`: utils per unit of f(price)."""
    quality_weight: Annotated[float, Field(ge=0.0, le=10.0)]
    """`beta`: utils per quality point."""
    latency_weight: Annotated[float, Field(ge=0.0, le=1.0)]
    """`gamma`: utils per ms of latency."""
    switching_cost_median: Annotated[float, Field(ge=0.0, le=100.0)]
    """Median switching cost in utils (lognormal across developers)."""
    switching_cost_sigma: Dispersion
    review_probability: Probability
    """`rho`: probability per month of reviewing the current choice."""
    outside_utility: Utils = 0.0
    """`u0`: extra utility of the outside option (no API, or self-hosting)."""
    # --- tiers (issue 12) ---
    tokens_per_task: Annotated[float, Field(ge=1.0, le=1e8)] = 1000.0
    """Tokens a task of this segment takes on a reference model (tier factor 1) at the start."""
    tokens_per_task_growth_per_month: Annotated[float, Field(ge=-0.5, le=1.0)] = 0.0
    """Growth of tokens per task (agentic and reasoning use): demand in tokens grows with it."""
    # --- end tiers ---
    taste_persistence: Probability = 0.7
    """rho: the monthly probability a developer's taste draw for an option is kept (`demand.
    Tastes`, a renewal process; 0 is memoryless, a fresh draw at every review). 0.7 = exp(-30.4
    / 87): the match renews when the model behind the option changes, and developers' primary
    model tenure averages 87 days (cal B.7, Flexera 2026 [S]); docs/calibration.md."""


# --- tiers (issue 12): a provider's line of models, and demand in tasks -------------------
class TierSpec(_Strict):
    """One model of a provider's line (flagship, mid, small...): a product developers choose.

    Its compute per token is `compute_share` x the provider's reference compute
    (`energy_kwh_per_mtok`, the model its `quality` and `price_usd_per_mtok` describe), so its
    quality is the provider's capability + slope ln(compute) (`model/frontier.py`), its energy
    and capex per token scale with the share, and so does its price (`agents/provider.py`).
    """

    name: Annotated[str, Field(min_length=1)]
    compute_share: Annotated[float, Field(ge=0.001, le=100.0)] = 1.0
    """Compute per token relative to the provider's reference model (1: that model); from
    0.001 (a thousandth of its compute: quality 60 points lower), since energy, capex and
    price per token scale with it and its logarithm enters quality."""
    tokens_per_task_factor: Annotated[float, Field(ge=0.001, le=100.0)] = 1.0
    """Tokens a task takes on this tier relative to the segment's `tokens_per_task`
    (reasoning tiers think at length: > 1)."""


# --- end tiers -----------------------------------------------------------------------------


class ProviderSpec(_Strict):
    """A provider's starting state: home, cost stack, quality, strategy."""

    name: Annotated[str, Field(min_length=1)]
    home: str
    strategy: str
    strategy_params: dict[str, int | float] = Field(default_factory=dict)
    """Parameters of the strategy (`tokenmarket strategies`); left out: its defaults."""
    price_usd_per_mtok: UsdPerMtok
    """Posted price at the start (USD per million tokens)."""
    quality: Annotated[float, Field(ge=0.0, le=100.0)]
    open_weights: bool = False
    energy_kwh_per_mtok: Annotated[float, Field(ge=FLOOR, le=1000.0)]
    """`e`: IT energy (GPUs and their hosts; cooling and power conversion excluded) in kWh per
    million blended tokens at full load. Facility energy is `pue` x this, and the model applies
    PUE once, in `model/costs.py`: a source's per-token figure that includes PUE (Epoch's
    includes 1.2) is divided by it before it goes here."""
    idle_power_fraction: Probability
    """`phi`: share of full-load power drawn by idle servers."""
    pue: Annotated[float, Field(ge=1.0, le=5.0)]
    """Facility power / IT power (>= 1)."""
    electricity_usd_per_kwh: UsdPerKwh | None = None
    """Own power price (a PPA); defaults to the home region's price."""
    gpu_price_usd: (
        Annotated[float, Field(ge=0.0, le=1e7), zero_or_from_floor(1e7, "USD")] | None
    ) = None
    """All-in capex per GPU (card plus its share of servers, network, building); 0 or from
    FLOOR, since capex per unit of capacity divides budgets. Its own hardware: required
    without a compute market (`gpus`), not allowed with one."""
    gpu_kw: Annotated[float, Field(ge=FLOOR, le=100.0)] | None = None
    """IT power of one GPU at full load, in kW (a divisor of capex per unit of capacity); as
    `gpu_price_usd`."""
    amortization_months: Annotated[int, Field(ge=1, le=MAX_LIFE_MONTHS)]
    """Life of a capacity vintage: it is amortized over, and retired after, this many months."""
    opex_fixed_usd_per_month: Annotated[
        float, Field(ge=0.0, le=1e12), zero_or_from_floor(1e12, "USD")
    ]
    opex_usd_per_gpu_month: Annotated[float, Field(ge=0.0, le=1e6), zero_or_from_floor(1e6, "USD")]
    """Non-power opex per GPU of capacity (staff, colocation, network, maintenance)."""
    capacity_mtok: Annotated[float, Field(ge=FLOOR, le=1e15)] | None = None
    """Initial capacity; None sizes it from the provider's expected logit demand at step 0."""
    cash_usd: Money = 0.0
    initial_awareness: Probability | None = None
    """Share of developers aware of the provider at step 0; None uses the market default."""
    initial_home_awareness: Probability | None = None
    """The same among developers of its home region; None: as `initial_awareness`."""
    platform: str | None = None
    """Software stack its models are developed and tuned on, one of `Scenario.platforms`
    (compute market only); None: the reference GPU's."""
    hosts: str | None = None
    """Open-weights hosting (issue 14): the open-weights provider whose model it serves, so its
    quality and compute per token are that model's (its own R&D moves nothing); None: its
    own model."""
    # --- tiers (issue 12) ---
    tiers: Annotated[list[TierSpec], Field(min_length=1, max_length=20)] | None = None
    """The models it sells; None: one, its reference model (`TierSpec` defaults)."""

    @model_validator(mode="after")
    def _unique_tiers(self) -> Self:
        names = [t.name for t in self.tiers or ()]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: names must be unique within a provider (got {names})")
        return self

    @property
    def tier_list(self) -> list[TierSpec]:
        """Its tiers, or its one reference model."""
        return self.tiers or [TierSpec(name="main")]

    # --- end tiers ---
    taste_persistence: Probability = 0.7
    """rho: the monthly probability a developer's taste draw for an option is kept (`demand.
    Tastes`, a renewal process; 0 is memoryless, a fresh draw at every review). 0.7 = exp(-30.4
    / 87): the match renews when the model behind the option changes, and developers' primary
    model tenure averages 87 days (cal B.7, Flexera 2026 [S]); docs/calibration.md."""


class Market(_Strict):
    """Market-wide behaviour: choice, outside option, diffusion, innovation, finance."""

    mu: Annotated[float, Field(ge=0.01, le=100.0)] = 1.0
    """Gumbel scale of the taste shocks (a normalization; kept for the theory setting)."""
    price_utility: Literal["log", "linear"] = "log"
    """f(p) in utility: `log` keeps price elasticity level-free; `linear` is the theory form."""
    home_bias_utils: Utils = 0.0
    """Trust term added when a developer's region is the provider's home."""
    outside_quality_gap: Annotated[float, Field(ge=0.0, le=100.0)] = 10.0
    """Points by which the outside option (self-hosted open weights) trails the best model on
    offer."""
    outside_price_usd_per_mtok: UsdPerMtok = 2.0
    """Self-hosting cost per million tokens."""
    frontier_drift_per_month: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    """Algorithmic progress: the frontier's quality at any fixed compute per token rises this
    many points a month (`model/frontier.py`)."""
    quality_per_log_compute: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    """Slope of the cost-capability frontier: quality points per e-fold of compute per token;
    0 makes quality free of compute (the first version)."""
    homogenization: Probability = 0.05
    """`kappa`: share of its gap to the (lagged) frontier a laggard closes each month
    (diffusion through open weights and distillation)."""
    diffusion_lag_months: Annotated[int, Field(ge=0, le=120)] = 0
    """Laggards approach where the frontier was this many months ago (0: where it is)."""
    rnd_effectiveness: Annotated[float, Field(ge=0.0, le=100.0)] = 0.5
    """Quality points from R&D equal to `rnd_scale` x market revenue, per ln(2)."""
    rnd_scale: Annotated[float, Field(ge=FLOOR, le=100.0)] = 0.2
    """R&D spend, as a share of last month's market revenue, that doubles its effect."""
    awareness_initial: Probability = 0.6
    awareness_base: Probability = 0.02
    """Bass innovation term `a`: monthly chance an unaware developer hears of a provider."""
    awareness_word_of_mouth: Annotated[float, Field(ge=0.0, le=100.0)] = 0.3
    """Bass imitation term `w`, per unit of the provider's developer share in the region."""
    open_weights_awareness_multiplier: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    """Open weights spread through the ecosystem: their `a` is this many times larger."""
    congestion_ms_per_unserved: Annotated[float, Field(ge=0.0, le=1e5)] = 200.0
    """Extra latency next month per unit of a provider's unserved demand fraction."""
    demand_elasticity: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    """`eta`: short-run intensive-margin elasticity of tasks to the cost per task, d = d0 (c /
    c_chosen) ** -eta with c_chosen the cost when the developer chose its product; 0: off."""
    learning_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """`b` of the learning curve, capex ~ cumulative output ** -b; 0 switches it off."""
    discount_rate_per_year: Annotated[float, Field(ge=0.0, le=10.0)] = 0.1
    capacity_lead_months: Annotated[int, Field(ge=0, le=60)] = 6
    burn_in_months: Annotated[int, Field(ge=0, le=10_000)] = 12
    exit_forecast_months: Annotated[int, Field(ge=1, le=10_000)] = 24
    """Horizon of the forecast a provider weighs exit by: it leaves when the present value
    of its damped-trend forecast of avoidable cash flow over these months is negative
    (`model/finance.py`, `continuation_value`)."""
    exit_trend_damping: Probability = 0.8
    """`phi` of the damped-trend forecast behind the exit rule: the trend's weight k months
    ahead is phi + ... + phi^k, so it adds at most phi / (1 - phi) months of the trend."""
    terminal_growth_per_year: Annotated[float, Field(ge=-0.5, le=1.0)] = 0.02
    """Growth of the perpetuity behind a provider's terminal value at the end of the run;
    below `discount_rate_per_year` (`model/finance.py`, `terminal_value`)."""
    credit_limit_months_of_revenue: Annotated[float, Field(ge=0.0, le=1000.0)] = 6.0
    """A provider exits when cash < -(this x its trailing mean monthly revenue)."""
    initial_fleet_depreciated: bool = False
    """The fleet at step 0 is written off (no amortization): the operating-cost view."""
    # --- tiers (issue 12) ---
    tier_switching_cost_share: Probability = 0.25
    """A move to another tier of the same provider costs this share of the switching cost
    (same key, contract, SDK and data terms; only the model name changes)."""
    tier_nest_scale: Annotated[float, Field(ge=0.05, le=1.0)] = 1.0
    """lambda of the nested logit by provider (`demand.nested_shocks`): 1 is plain logit (the
    tiers of a line are independent options, IIA), toward 0 a line counts as one option when
    a developer weighs another provider. From 0.05: the stable draw's exponents are 1/lambda."""
    # --- end tiers ---
    taste_persistence: Probability = 0.7
    """rho: the monthly probability a developer's taste draw for an option is kept (`demand.
    Tastes`, a renewal process; 0 is memoryless, a fresh draw at every review). 0.7 = exp(-30.4
    / 87): the match renews when the model behind the option changes, and developers' primary
    model tenure averages 87 days (cal B.7, Flexera 2026 [S]); docs/calibration.md."""
    entry_review_months: Annotated[int, Field(ge=1, le=120)] = 3
    """A potential entrant weighs entering every this many months (`model/entry.py`)."""
    entry_hurdle: Annotated[float, Field(ge=1.0, le=10.0)] = 1.0
    """A potential entrant enters when the value of the firm it would start is at least this
    multiple of its entry cost: 1 is the free-entry rule (enter when the NPV is positive);
    above 1, the value of waiting of an irreversible investment under uncertainty (Dixit &
    Pindyck 1994, ch. 5: the trigger is beta / (beta - 1) > 1 times the cost)."""


class _Shock(_Strict):
    step: Annotated[int, Field(ge=1, le=10_000)]
    """Month at whose start the event applies (1 = the first month of the run)."""


class ElectricityShock(_Shock):
    """A region's power prices change: its providers and its sites pay `factor` times more.

    Providers homed there, and every site built there (`model/sites.py`), before or after.
    """

    kind: Literal["electricity"]
    region: str
    factor: Factor


class CarbonShock(_Shock):
    """A carbon price (USD/kWh) is set on the power used by providers homed in a region."""

    kind: Literal["carbon"]
    region: str
    usd_per_kwh: Annotated[float, Field(ge=0.0, le=10.0), zero_or_from_floor(10.0, "USD/kWh")]


class AccessShock(_Shock):
    """A ban, a lifted ban, or anything between: access[developer_region][home] changes.

    Each developer keeps the uniform draw behind its access, so a ban cuts everyone off and
    a partial change moves only the developers between the old and the new probability.
    """

    kind: Literal["access"]
    developer_region: str
    home: str
    probability: Probability


class DemandGrowthShock(_Shock):
    """A region's monthly demand growth rate changes (adoption matures, or takes off)."""

    kind: Literal["demand_growth"]
    region: str
    per_month: Annotated[float, Field(ge=-0.5, le=1.0)]


class EfficiencyShock(_Shock):
    """Energy per Mtok of a region's fleets is multiplied by `factor`.

    A hardware generation (< 1), or export-controlled chips (> 1); GPU capex per unit of
    capacity follows, since a GPU serves 1/factor times the tokens.
    """

    kind: Literal["efficiency"]
    region: str
    factor: Factor


class CapacityLimitShock(_Shock):
    """Export controls: a cap on capacity growth of the providers homed in a region.

    Net of retirements: new orders may bring capacity at their arrival to at most current
    capacity x (1 + max_growth_per_month) ** lead, so worn-out hardware can still be
    replaced; 0 freezes the fleet's size; None lifts the limit.
    """

    kind: Literal["capacity_limit"]
    region: str
    max_growth_per_month: Annotated[float, Field(ge=0.0, le=10.0)] | None


class EntryShock(_Shock):
    """A new provider enters, with capacity and awareness of its own."""

    kind: Literal["entry"]
    provider: ProviderSpec


class PotentialEntrant(_Strict):
    """A firm outside the market that enters when entering is worth its cost (`model/entry.py`).

    Its entry cost is the capex of its first fleet (sized by its plan to the demand it expects
    in its first month) plus `sunk_cost_usd`.
    """

    provider: ProviderSpec
    """Who would enter: home, cost stack, quality, strategy, as an incumbent's. Its
    `price_usd_per_mtok` is unused: the entrant plans its launch price (`model/entry.py`)."""
    sunk_cost_usd: Annotated[float, Field(ge=0.0, le=1e12)]
    """Cost of entering beyond hardware, lost on exit: the API platform, sales and support
    set-up, the adaptation of a model to serve (USD, paid at entry)."""
    earliest_step: Annotated[int, Field(ge=1, le=10_000)] = 1
    """First month it may enter (its model is ready, or its market opens)."""


class QualityShock(_Shock):
    """A model release: a provider's quality jumps by `points`, and news of it spreads.

    `awareness` is the share of the developers unaware of the provider who hear of it.
    """

    kind: Literal["quality_jump"]
    provider: str
    points: Annotated[float, Field(ge=-100.0, le=100.0)]
    awareness: Probability = 0.0


# ---- compute market (issue 14, model/compute.py) ----
class GpuType(_Strict):
    """A GPU type on sale: price, power, throughput, and where it may be bought."""

    name: Annotated[str, Field(min_length=1)]
    price_usd: Annotated[float, Field(ge=0.0, le=1e7)]
    """All-in capex per unit (card plus its share of servers, network, building)."""
    kw: Annotated[float, Field(gt=0.0, le=100.0)]
    """IT power per unit at full load, host included."""
    relative_throughput: Annotated[float, Field(gt=0.0, le=100.0)]
    """Tokens per second relative to the reference GPU (the first listed, whose value must
    be 1): providers' compute per token is measured on the reference."""
    regions: list[str] | None = None
    """Regions whose providers may buy it at the start; None: every region."""
    maker: str | None = None
    """Region where it is designed: a `maker` region's own GPU is a domestic accelerator there."""
    platform: str | None = None
    """Software stack it runs (CUDA, CANN), one of `Scenario.platforms`; None: a stack every
    model runs at full throughput."""
    barred_homes: list[str] = Field(default_factory=list)
    """Homes of firms that may not buy it anywhere, at a site abroad too: the US rule of
    October 2023 that requires a licence for exports to firms headquartered in arms-embargoed
    countries (China among them), wherever they are (`model/sites.py`)."""


class Platform(_Strict):
    """A software stack GPUs run: a model developed on another runs slower on it until ported."""

    name: Annotated[str, Field(min_length=1)]
    foreign_efficiency: Annotated[float, Field(ge=0.01, le=1.0)] = 1.0
    """Throughput of a model developed on another platform, relative to one developed on this,
    before any porting: the share of a GPU's rated throughput it delivers (`model/compute.py`)."""
    porting_per_month: Probability = 0.0
    """Share of the remaining gap a provider closes each month it plans on or runs the
    platform's GPUs (kernels, quantization and parallelism tuned by doing); 0: the gap stays."""


def _may_buy(gpu: GpuType, region: str, home: str) -> bool:
    """Whether a firm of `home` may buy `gpu` at a site in `region` at the start."""
    return (gpu.regions is None or region in gpu.regions) and home not in gpu.barred_homes


class GpuAccessShock(_Shock):
    """Export controls, or a region's own purchase rule: a region may, or may not, buy a GPU."""

    kind: Literal["gpu_access"]
    region: str
    gpu: str
    allowed: bool


# ---- end compute market ----


# ---- networks (issue 14, model/networks.py) ----
class PopSpec(_Strict):
    """A point of presence (or cross-border link) a provider buys for one developer region."""

    provider: str
    region: str
    """Developer region it serves."""
    step: Annotated[int, Field(ge=1, le=10_000)]
    """Month it is bought and in service (1 = the first month of the run)."""
    latency_ms: Annotated[float, Field(ge=0.0, le=1e5)]
    """Round trip from the region's developers to the provider through it."""
    usd_per_month: Annotated[float, Field(ge=0.0, le=1e12)]
    """The network operator's price, added to the provider's fixed opex from `step` on."""


class LinkSpec(_Strict):
    """A network operator's premium line from a provider home to a developer region.

    Sold at a scenario price to every provider homed in `home` (entrants included): for
    each, a PoP in `region` from `step` on (CN2-class cross-border lines, `model/networks.py`).
    """

    home: str
    """Region whose providers it connects."""
    region: str
    """Developer region it reaches."""
    step: Annotated[int, Field(ge=1, le=10_000)] = 1
    latency_ms: Annotated[float, Field(ge=0.0, le=1e5)]
    """Round trip from the region's developers to a provider homed in `home` through it."""
    usd_per_month: Annotated[float, Field(ge=0.0, le=1e12)]
    """The operator's price to each provider, added to its fixed opex from `step` on."""


# ---- end networks ----


# ---- sites (issue 14, model/sites.py) ----
class SiteSpec(_Strict):
    """A data center a provider may run abroad: investment, against export from home.

    Its capacity has its own fleet, power price, PUE and GPUs (those its host region may
    buy); developers see the latency of the provider's nearest open site. Built on a date
    (`open_step`: history) or when its value to the firm exceeds its cost (`model/sites.py`).
    """

    provider: str
    region: str
    """Host region: not the provider's home (its home capacity is the provider's own)."""
    open_step: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """Month it opens, as it happened (ordered `lead_months` before, from month 1 on); None:
    the provider decides by value, from `earliest_step`, if the host permits."""
    earliest_step: Annotated[int, Field(ge=1, le=10_000)] = 1
    """First month the provider may decide to build it (value rule only)."""
    sunk_cost_usd: Annotated[float, Field(ge=0.0, le=1e12)] = 0.0
    """Cost of opening it beyond its GPUs (land, building shell, permits, local entity), paid
    when ordered and lost on exit; the GPUs are bought by the fleet's orders."""
    lead_months: Annotated[int, Field(ge=0, le=120)] = 12
    """Months from the order to its first service (construction and permits)."""
    opex_fixed_usd_per_month: Annotated[
        float, Field(ge=0.0, le=1e12), zero_or_from_floor(1e12, "USD")
    ] = 0.0
    """Fixed cost of running it (local staff, legal entity, network), from its opening."""
    pue: Annotated[float, Field(ge=1.0, le=5.0)] | None = None
    """Its facility's PUE; None: the provider's own (its engineering travels with it)."""
    electricity_usd_per_kwh: UsdPerKwh | None = None
    """Its power price (a PPA); None: the host region's grid price (its carbon price added)."""
    latency_ms: Annotated[float, Field(ge=0.0, le=1e5)] | None = None
    """Round trip from the host region's developers to it; None: `latency_ms[host][host]`.
    Developers elsewhere reach it over `latency_ms[their region][host]`."""


# ---- end sites ----
Shock = Annotated[
    ElectricityShock
    | CarbonShock
    | AccessShock
    | DemandGrowthShock
    | EfficiencyShock
    | CapacityLimitShock
    | EntryShock
    | QualityShock
    | GpuAccessShock,
    Field(discriminator="kind"),
]


class Scenario(_Strict):
    """Everything that defines a run except the seed."""

    name: str = "custom"
    description: str = ""
    steps: Annotated[int, Field(ge=1, le=10_000)] = 120
    """Default run length in months."""
    start: Annotated[datetime.date, Field(strict=False)] = datetime.date(2024, 1, 1)
    """Calendar month of step 1 (the month holding this date): the frames' `date` column.
    A TOML date, or its ISO text as stored in a sweep's manifest."""
    n_developers: Annotated[int, Field(ge=1, le=5_000_000)] = 10_000
    represented_developers: Annotated[int, Field(ge=1, le=10**12)] | None = None
    """Developers the market stands for: each agent's demand is scaled by
    represented / n_developers, so `n_developers` sets resolution, not market size (against
    fixed costs in USD). None: one agent is one developer."""
    regions: Annotated[list[Region], Field(min_length=1)]
    latency_ms: dict[str, dict[str, Annotated[float, Field(ge=0.0, le=1e5)]]]
    """`latency_ms[developer_region][site_region]`: network round trip in ms."""
    access: dict[str, dict[str, Probability]] = Field(default_factory=dict)
    """`access[developer_region][provider_home]`; entries left out are 1 (open)."""
    segments: Annotated[list[Segment], Field(min_length=1)]
    providers: Annotated[list[ProviderSpec], Field(min_length=1)]
    market: Market = Field(default_factory=Market)
    shocks: list[Shock] = Field(default_factory=list)
    """Scheduled events: power and carbon prices, access, demand growth, efficiency,
    export controls, entry, model releases."""
    potential_entrants: list[PotentialEntrant] = Field(default_factory=list)
    """Firms that enter when the expected value of entering exceeds its cost (`model/entry.py`);
    scheduled `entry` shocks replay entries that happened."""
    gpus: list[GpuType] = Field(default_factory=list)
    """The compute market (`model/compute.py`); empty: each provider has its own hardware."""
    pops: list[PopSpec] = Field(default_factory=list)
    """Points of presence bought by providers (`model/networks.py`); empty: public routes."""
    links: list[LinkSpec] = Field(default_factory=list)
    """Network operators' premium lines, sold to every provider of a home (`model/networks.py`)."""
    platforms: list[Platform] = Field(default_factory=list)
    """Software stacks of the compute market's GPUs (`GpuType.platform`); empty: one stack."""
    sites: list[SiteSpec] = Field(default_factory=list)
    """Data centers abroad (`model/sites.py`); empty: every provider serves from home."""
    site_permission: dict[str, dict[str, Probability]] = Field(default_factory=dict)
    """`site_permission[host_region][provider_home]`: probability that the host lets a firm
    of that home open a site decided by value (ownership caps, security reviews); entries
    left out are 1. Drawn once per site and run."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = self.region_names
        problems = []
        for field, items in (
            ("regions", self.regions),
            ("segments", self.segments),
            ("providers (entrants included)", self.all_providers),
        ):
            seen = [item.name for item in items]
            if len(set(seen)) != len(seen):
                problems.append(f"{field}: names must be unique (got {seen})")
        for field, items in (("regions", self.regions), ("segments", self.segments)):
            total = sum(item.population_share for item in items)
            if abs(total - 1.0) > 1e-6:
                problems.append(f"{field}.population_share: must sum to 1 (got {total:.6g})")
        for field, matrix, complete in (
            ("latency_ms", self.latency_ms, True),
            ("access", self.access, False),
            ("site_permission", self.site_permission, False),
        ):
            problems += _matrix_problems(field, matrix, names, complete)
        entrants = {s.provider.name: s.step for s in self.shocks if isinstance(s, EntryShock)}
        located = (
            [(f"providers.{i}", p) for i, p in enumerate(self.providers)]
            + [
                (f"shocks.{i}.provider", s.provider)
                for i, s in enumerate(self.shocks)
                if isinstance(s, EntryShock)
            ]
            + [
                (f"potential_entrants.{i}.provider", e.provider)
                for i, e in enumerate(self.potential_entrants)
            ]
        )
        for where, p in located:
            if p.home not in names:
                problems.append(f"{where}.home: {p.home!r} is not a region; one of {names}")
            try:
                registry.parse_params(p.strategy, p.strategy_params)
            except ValueError as err:
                problems.append(f"{where}.{err}")
        if not self.market.terminal_growth_per_year < self.market.discount_rate_per_year:
            problems.append(
                "market.terminal_growth_per_year: must be below market.discount_rate_per_year "
                f"(got {self.market.terminal_growth_per_year} >= "
                f"{self.market.discount_rate_per_year})"
            )
        providers = [p.name for p in self.all_providers]
        potential = {e.provider.name for e in self.potential_entrants}
        for i, shock in enumerate(self.shocks):
            for field in ("region", "developer_region", "home"):
                value = getattr(shock, field, None)
                if value is not None and value not in names:
                    problems.append(
                        f"shocks.{i}.{field}: {value!r} is not a region; one of {names}"
                    )
            if isinstance(shock, QualityShock):
                if shock.provider not in providers:
                    problems.append(
                        f"shocks.{i}.provider: {shock.provider!r} is not a provider; "
                        f"one of {providers}"
                    )
                elif entrants.get(shock.provider, 0) > shock.step:
                    problems.append(f"shocks.{i}.step: {shock.provider!r} has not entered yet")
                elif shock.provider in potential:
                    problems.append(
                        f"shocks.{i}.provider: {shock.provider!r} is a potential entrant, "
                        "which may never enter; releases are for incumbents and scheduled entrants"
                    )
        problems += self._compute_market_problems(located)
        authors = {p.name: p for p in self.all_providers}
        for where, p in located:
            if p.hosts is None:
                continue
            author = authors.get(p.hosts)
            if author is None or not author.open_weights or author.hosts is not None:
                problems.append(
                    f"{where}.hosts: {p.hosts!r} is not an open-weights author (a provider with "
                    "open_weights = true serving its own model)"
                )
        for i, pop in enumerate(self.pops):
            if pop.provider not in providers:
                problems.append(
                    f"pops.{i}.provider: {pop.provider!r} is not a provider; one of {providers}"
                )
            if pop.region not in names:
                problems.append(f"pops.{i}.region: {pop.region!r} is not a region; one of {names}")
        for i, link in enumerate(self.links):
            for field in ("home", "region"):
                if getattr(link, field) not in names:
                    problems.append(
                        f"links.{i}.{field}: {getattr(link, field)!r} is not a region; "
                        f"one of {names}"
                    )
        problems += self._site_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _site_problems(self) -> list[str]:
        """A site's provider and region exist, it is abroad, once per pair, and can buy a GPU."""
        names, problems = self.region_names, []
        homes = {p.name: p.home for p in self.all_providers}
        seen = set()
        for i, site in enumerate(self.sites):
            if site.provider not in homes:
                problems.append(
                    f"sites.{i}.provider: {site.provider!r} is not a provider; one of {list(homes)}"
                )
                continue
            if site.region not in names:
                problems.append(
                    f"sites.{i}.region: {site.region!r} is not a region; one of {names}"
                )
                continue
            if site.region == homes[site.provider]:
                problems.append(
                    f"sites.{i}.region: {site.region!r} is {site.provider}'s home; a site is abroad"
                )
            if (site.provider, site.region) in seen:
                problems.append(f"sites.{i}: {site.provider} has a site in {site.region} already")
            seen.add((site.provider, site.region))
            if self.gpus and not [
                g for g in self.gpus if _may_buy(g, site.region, homes[site.provider])
            ]:
                problems.append(
                    f"sites.{i}: a {homes[site.provider]} firm may buy no GPU in {site.region}"
                )
        return problems

    def _compute_market_problems(self, located: list[tuple[str, ProviderSpec]]) -> list[str]:
        """GPU names, the reference GPU, hardware fields, and a GPU every home may buy, always."""
        names, gpus = self.region_names, [g.name for g in self.gpus]
        problems = []
        if len(set(gpus)) != len(gpus):
            problems.append(f"gpus: names must be unique (got {gpus})")
        if self.gpus and self.gpus[0].relative_throughput != 1.0:
            problems.append(
                "gpus.0.relative_throughput: the first GPU is the reference and must be 1 "
                f"(got {self.gpus[0].relative_throughput})"
            )
        platforms = [p.name for p in self.platforms]
        if len(set(platforms)) != len(platforms):
            problems.append(f"platforms: names must be unique (got {platforms})")
        for i, g in enumerate(self.gpus):
            if g.maker is not None and g.maker not in names:
                problems.append(f"gpus.{i}.maker: {g.maker!r} is not a region; one of {names}")
            if g.platform is not None and g.platform not in platforms:
                problems.append(
                    f"gpus.{i}.platform: {g.platform!r} is not a platform; one of {platforms}"
                )
            for field, listed in (("regions", g.regions or ()), ("barred_homes", g.barred_homes)):
                problems += [
                    f"gpus.{i}.{field}: {r!r} is not a region; one of {names}"
                    for r in listed
                    if r not in names
                ]
        for where, p in located:
            if p.platform is not None and p.platform not in platforms:
                problems.append(
                    f"{where}.platform: {p.platform!r} is not a platform; one of {platforms}"
                )
            for field in ("gpu_price_usd", "gpu_kw"):
                given = getattr(p, field) is not None
                if given and self.gpus:
                    problems.append(f"{where}.{field}: not allowed with gpus (bought there)")
                elif not given and not self.gpus:
                    problems.append(f"{where}.{field}: required without gpus")
        access = {
            r: {g.name for g in self.gpus if g.regions is None or r in g.regions} for r in names
        }
        homes = {p.home for _, p in located}
        for i, shock in enumerate(self.shocks):
            if isinstance(shock, EfficiencyShock) and self.gpus:
                problems.append(
                    f"shocks.{i}.kind: efficiency acts on own hardware; with gpus, "
                    "change the GPUs or their access"
                )
        for i, shock in sorted(enumerate(self.shocks), key=lambda item: item[1].step):
            if not isinstance(shock, GpuAccessShock) or shock.region not in names:
                continue
            if shock.gpu not in gpus:
                problems.append(f"shocks.{i}.gpu: {shock.gpu!r} is not a GPU; one of {gpus}")
                continue
            (access[shock.region].add if shock.allowed else access[shock.region].discard)(shock.gpu)
            if shock.region in homes and not access[shock.region]:
                problems.append(f"shocks.{i}: leaves {shock.region}'s providers no GPU to buy")
        if self.gpus:
            problems += [
                f"gpus: {r}'s providers may buy no GPU"
                for r in homes
                if r in names and not [g for g in self.gpus if _may_buy(g, r, r)]
            ]
        return problems

    @property
    def all_providers(self) -> list[ProviderSpec]:
        """Incumbents, scheduled entrants, potential entrants: every provider axis's order."""
        scheduled = [s.provider for s in self.shocks if isinstance(s, EntryShock)]
        return self.providers + scheduled + [e.provider for e in self.potential_entrants]

    @property
    def region_names(self) -> list[str]:
        """Region names in scenario order (the order of every region axis in the model)."""
        return [r.name for r in self.regions]

    def latency_matrix(self) -> np.ndarray:
        """Latency in ms as an array indexed [developer_region, site_region]."""
        names = self.region_names
        return np.array([[self.latency_ms[a][b] for b in names] for a in names])

    def access_matrix(self) -> np.ndarray:
        """Access probabilities as an array indexed [developer_region, provider_home]."""
        names = self.region_names
        return np.array([[self.access.get(a, {}).get(b, 1.0) for b in names] for a in names])

    def to_toml(self) -> str:
        """The resolved scenario as TOML, loadable again with `load_scenario`."""
        return tomli_w.dumps(self.model_dump(exclude_none=True))


def _matrix_problems(
    field: str, matrix: Mapping[str, Mapping[str, float]], names: list[str], complete: bool
) -> list[str]:
    problems = []
    for row, cols in matrix.items():
        if row not in names:
            problems.append(f"{field}.{row}: not a region; rows must be among {names}")
            continue
        for col in cols:
            if col not in names:
                problems.append(f"{field}.{row}.{col}: not a region; columns must be among {names}")
        if complete and set(cols) != set(names):
            problems.append(f"{field}.{row}: needs one entry for each of {names}")
    if complete and set(matrix) != set(names):
        problems.append(f"{field}: needs one row for each of {names}")
    return problems
