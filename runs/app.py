"""The classroom app: a Mesa SolaraViz page a teacher drives live in front of a class.

Serve it with `tokenmarket app` (or `serve()`, or `solara run tokenmarket.runs.app`). The
page assets come from the installed `solara-assets` package, so it runs without internet.

Presets and controls
--------------------
A preset is a built-in scenario; its `description` is the one-line story shown under the
picker. Presets differ in shape: `going_global` has five regions and seven providers, the
classroom-sized ones three and four. SolaraViz builds the model from constructor keywords
(it checks each control's key against the signature) and Reset rebuilds it from the
controls' current values. Hence `ClassroomMarket`, a thin `TokenMarket` subclass whose
constructor takes the preset's name plus preset-independent keywords, all explicit:

- market-wide: `switching_cost`, `homogenization`, `demand_growth`, `cross_border` (an
  access policy);
- per region of MODEL.md's default set (CN, US, EU, APAC, ROW): `electricity_<R>`, `pue_<R>`;
- per provider slot: `strategy_1` ... `strategy_8`, the preset's providers in order.

Each maps onto TokenMarket's flat overrides (`scenario.OVERRIDES`). A knob that is None, or
equal to the value the page first shows for the preset, changes nothing: the overrides set
one value for a whole region or market (`electricity_CN` sets CN's grid price and moves a CN
provider's own power contract in proportion, `demand_growth` flattens regional rates), so an
untouched control must not apply them. The page shows only the controls that fit the chosen
preset (its regions that home providers, its providers by name), starting from the preset's
values; picking a preset builds its model at once and mounts a new SolaraViz (see `Page`),
so its controls start afresh.

Explicit keywords, not `**overrides`, also because Mesa 3.5's Reset passes a Mesa
`scenario` object to any constructor that takes `scenario` or `**kwargs`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import solara
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from mesa.visualization import Slider, SolaraViz
from seaborn import color_palette

from tokenmarket.agents import strategies
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import Scenario, ScenarioError, load_scenario
from tokenmarket.runs.plots import provider_labels

PRESETS: dict[str, str] = {
    "Classroom": "classroom",
    "Price war": "price_war",
    "Differentiation wins": "differentiation_wins",
    "Demand-driven price rise": "demand_driven",
    "Going global": "going_global",
}
"""Title shown in the picker -> built-in scenario."""

AS_IN_SCENARIO = "as in the scenario"

CROSS_BORDER: dict[str, Callable[[list[str]], dict[str, float]]] = {
    AS_IN_SCENARIO: lambda regions: {},
    "open: any API from anywhere": lambda regions: {"foreign_access": 1.0},
    "US bans foreign APIs": lambda regions: _home_only("US", regions),
    "China bans foreign APIs": lambda regions: _home_only("CN", regions),
    "closed: home-region APIs only": lambda regions: {"foreign_access": 0.0},
}
"""Cross-border access policies -> the access overrides they stand for."""

PLAY_INTERVAL_MS = 201
"""Pause between steps while playing (on Mesa's slider grid, 1 + 10k ms); a classroom step
takes a few ms, the redraw of the market page a few hundred."""


def _home_only(region: str, regions: list[str]) -> dict[str, float]:
    """Developers of `region` may use no provider homed elsewhere."""
    return {f"access_{region}_{home}": 0.0 for home in regions if home != region}


@dataclass(frozen=True)
class Knob:
    """A slider: its label with units, range and step."""

    label: str
    min: float
    max: float
    step: float

    @property
    def range(self) -> tuple[float, float, float]:
        """Min, max and step, in the order `Slider` takes them."""
        return self.min, self.max, self.step

    def on_grid(self, value: float) -> float:
        """`value` rounded to a position the slider can show (else it would move on its own)."""
        return round(round(value / self.step) * self.step, 10)


KNOBS: dict[str, Knob] = {
    "switching_cost": Knob("Switching cost, median (utils)", 0.0, 5.0, 0.05),
    "homogenization": Knob("Homogenization (gap closed / month)", 0.0, 0.3, 0.005),
    "demand_growth": Knob("Demand growth (share / month)", -0.05, 0.25, 0.005),
    "electricity": Knob("{region} electricity price (USD/kWh)", 0.01, 0.40, 0.001),
    "pue": Knob("{region} PUE (facility / IT power)", 1.0, 2.0, 0.01),
}


MARKET_KNOBS = ("switching_cost", "homogenization", "demand_growth")
"""Knobs that are one value for the whole market."""


@cache
def preset_scenario(name: str) -> Scenario:
    """The validated built-in scenario behind a preset (immutable, so loaded once)."""
    return load_scenario(name)


def provider_regions(spec: Scenario) -> list[str]:
    """Regions that home at least one provider, in scenario order: those with power controls."""
    homes = {p.home for p in spec.providers}
    return [r for r in spec.region_names if r in homes]


def shown_values(spec: Scenario) -> dict[str, Any]:
    """What each control shows for a preset at first: the preset's own values, on the grid.

    A region's PUE is its providers' mean; switching cost and demand growth are
    population-weighted means (they differ by segment and region in some presets).
    """
    regions = {r.name: r for r in spec.regions}
    values: dict[str, Any] = {
        "cross_border": AS_IN_SCENARIO,
        "switching_cost": KNOBS["switching_cost"].on_grid(
            sum(s.population_share * s.switching_cost_median for s in spec.segments)
        ),
        "homogenization": KNOBS["homogenization"].on_grid(spec.market.homogenization),
        "demand_growth": KNOBS["demand_growth"].on_grid(
            sum(r.population_share * r.demand_growth_per_month for r in spec.regions)
        ),
    }
    for region in provider_regions(spec):
        pues = [p.pue for p in spec.providers if p.home == region]
        values[f"electricity_{region}"] = KNOBS["electricity"].on_grid(
            regions[region].electricity_usd_per_kwh
        )
        values[f"pue_{region}"] = KNOBS["pue"].on_grid(sum(pues) / len(pues))
    for slot, provider in enumerate(spec.providers, start=1):
        values[f"strategy_{slot}"] = provider.strategy
    return values


def overrides_for(spec: Scenario, knobs: dict[str, Any]) -> dict[str, Any]:
    """TokenMarket's flat overrides for the knobs that differ from what the page first shows."""
    shown = shown_values(spec)
    overrides: dict[str, Any] = {}
    for key, value in knobs.items():
        if value is None or _same(value, shown.get(key)):
            continue
        if key == "cross_border":
            if value not in CROSS_BORDER:
                raise ScenarioError(f"cross_border: {value!r} is not one of {list(CROSS_BORDER)}")
            overrides |= CROSS_BORDER[value](spec.region_names)
        elif key.startswith("strategy_"):
            slot = int(key.removeprefix("strategy_"))
            if slot > len(spec.providers):
                raise ScenarioError(f"{key}: {spec.name!r} has {len(spec.providers)} providers")
            overrides[f"strategy_{spec.providers[slot - 1].name}"] = value
        else:
            overrides[key] = value
    return overrides


def _same(value: Any, shown: Any) -> bool:
    if isinstance(value, int | float) and isinstance(shown, int | float):
        return math.isclose(value, shown, rel_tol=0.0, abs_tol=1e-9)
    return value == shown


@dataclass(frozen=True)
class Frames:
    """The model's tidy outputs at one month: empty before the first step."""

    providers: pd.DataFrame
    flows: pd.DataFrame


class ClassroomMarket(TokenMarket):
    """TokenMarket built from a preset and the app's preset-independent controls.

    Args:
        preset: a built-in scenario name (see `PRESETS`).
        rng: seed.
        cross_border: an access policy, one of `CROSS_BORDER`.
        switching_cost: median switching cost of every segment (utils).
        homogenization: share of its quality gap to the frontier a provider closes a month.
        demand_growth: monthly demand growth of every region (0.05 = 5% a month).
        electricity_<R>: grid power price of region R (USD/kWh); contracts move in proportion.
        pue_<R>: PUE of region R's providers (facility power / IT power).
        strategy_<k>: strategy of the preset's k-th provider.

    A knob that is None or equal to the preset's shown value (`shown_values`) changes nothing.

    """

    def __init__(
        self,
        preset: str = "classroom",
        *,
        rng: int | None = 0,
        cross_border: str = AS_IN_SCENARIO,
        switching_cost: float | None = None,
        homogenization: float | None = None,
        demand_growth: float | None = None,
        electricity_CN: float | None = None,
        electricity_US: float | None = None,
        electricity_EU: float | None = None,
        electricity_APAC: float | None = None,
        electricity_ROW: float | None = None,
        pue_CN: float | None = None,
        pue_US: float | None = None,
        pue_EU: float | None = None,
        pue_APAC: float | None = None,
        pue_ROW: float | None = None,
        strategy_1: str | None = None,
        strategy_2: str | None = None,
        strategy_3: str | None = None,
        strategy_4: str | None = None,
        strategy_5: str | None = None,
        strategy_6: str | None = None,
        strategy_7: str | None = None,
        strategy_8: str | None = None,
    ) -> None:
        # every keyword after `rng` is a knob (`__class__` is there because of `super()`)
        knobs = {
            k: v for k, v in locals().items() if k not in ("self", "preset", "rng", "__class__")
        }
        spec = preset_scenario(preset)
        super().__init__(spec, rng=rng, **overrides_for(spec, knobs))
        self.preset = preset
        self._frames: tuple[int, Frames] | None = None

    def frames(self) -> Frames:
        """Provider and flow frames of the months so far, built once per month for all charts."""
        if self._frames is None or self._frames[0] != self.steps:
            empty = pd.DataFrame()
            frames = (
                Frames(self.provider_frame(), self.flow_frame())
                if self.steps
                else Frames(empty, empty)
            )
            self._frames = (self.steps, frames)
        return self._frames[1]


def model_params(preset: str) -> dict[str, Any]:
    """SolaraViz controls for a preset: its regions and providers, starting from its values."""
    spec = preset_scenario(preset)
    shown = shown_values(spec)
    params: dict[str, Any] = {
        "preset": preset,
        "rng": Slider("Random seed", value=0, min=0, max=99, step=1),
        "cross_border": {
            "type": "Select",
            "label": "Cross-border API access",
            "value": AS_IN_SCENARIO,
            "values": list(CROSS_BORDER),
        },
        **{
            name: Slider(KNOBS[name].label, shown[name], *KNOBS[name].range, dtype=float)
            for name in MARKET_KNOBS
        },
    }
    for region in provider_regions(spec):
        for kind in ("electricity", "pue"):
            knob, key = KNOBS[kind], f"{kind}_{region}"
            params[key] = Slider(knob.label.format(region=region), shown[key], *knob.range, float)
    for slot, provider in enumerate(spec.providers, start=1):
        params[f"strategy_{slot}"] = {
            "type": "Select",
            "label": f"Strategy of {provider.name} ({provider.home})",
            "value": provider.strategy,
            "values": strategies.names(),
        }
    return params


# ---------------------------------------------------------------------------- figures
PROJECTOR_STYLE = {
    "font.size": 14,
    "axes.titlesize": 17,
    "axes.titleweight": "bold",
    "axes.labelsize": 14,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
    "lines.linewidth": 2.5,
    "hatch.color": "#333333",
    "axes.grid": True,
    "grid.alpha": 0.35,
}
"""Large type for a projector (the figure is shown at about its own pixel size); light grid."""

FIGURE_INCHES = (7.5, 4.0)
"""At 100 dpi, the size of a SolaraViz card on a 1920 x 1080 screen with the sidebar open."""

LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "\\\\", "xx", "--", "oo", "++")


@dataclass(frozen=True)
class Look:
    """How one series is drawn: colour (colour-blind safe) and a shape that survives greyscale."""

    color: str
    linestyle: str
    marker: str
    hatch: str


def looks(names: list[str]) -> dict[str, Look]:
    """One look per name, in order: seaborn's colour-blind palette, dashes, markers, hatches."""
    colors = color_palette("colorblind", len(names))
    return {
        name: Look(
            to_hex(colors[i]),
            LINESTYLES[i % len(LINESTYLES)],
            MARKERS[i % len(MARKERS)],
            HATCHES[i % len(HATCHES)],
        )
        for i, name in enumerate(names)
    }


def _axes(title: str, ylabel: str) -> tuple[Figure, Axes]:
    """A titled figure with one axes over months; constrained layout keeps labels apart.

    Call inside `matplotlib.rc_context(PROJECTOR_STYLE)`: artists read the style when made.
    """
    fig = Figure(figsize=FIGURE_INCHES, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set(title=title, xlabel="month", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    return fig, ax


def _waiting(title: str) -> Figure:
    """The chart before the first month: says what to press."""
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, "")
        ax.text(0.5, 0.5, "press Step or ▶", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    return fig


def _wide(providers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Months x providers of one column, providers in the model's order."""
    order = list(dict.fromkeys(providers["provider"]))
    return providers.pivot(index="step", columns="provider", values=column)[order]


def _months(ax: Axes, months: pd.Index, pad: float = 0.0) -> None:
    """The x axis spans the months played (at least two, so one month is not a sliver).

    `pad` is a share of the span added on each side: room for the markers at the ends.
    """
    first, last = months.min(), max(months.max(), months.min() + 1)
    margin = pad * (last - first)
    ax.set_xlim(first - margin, last + margin)


def _stacked(ax: Axes, wide: pd.DataFrame, colors: list[str], hatches: list[str]) -> None:
    """Stacked areas, one per column, told apart by colour and hatch."""
    ax.stackplot(
        wide.index,
        wide.to_numpy(dtype=float).T,
        labels=[str(c) for c in wide.columns],
        colors=colors,
        hatch=hatches,
        edgecolor="white",
        linewidth=0.6,
    )
    _months(ax, wide.index)
    ax.set_ylim(bottom=0)


def share_figure(providers: pd.DataFrame) -> Figure:
    """Token market share (%) per provider, stacked: who serves the market, month by month."""
    title = "Token market share"
    if providers.empty:
        return _waiting(title)
    shares = _wide(providers, "token_share") * 100.0
    wrapped = provider_labels(providers).str.replace(" (", "\n(", n=1, regex=False)
    labels = dict(zip(providers["provider"], wrapped, strict=True))
    style = looks(list(shares.columns))
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, "share of tokens served (%)")
        _stacked(
            ax,
            shares.rename(columns=labels),
            [style[p].color for p in shares.columns],
            [style[p].hatch for p in shares.columns],
        )
        ax.set_ylim(0, 100)
        handles, names = ax.get_legend_handles_labels()
        fig.legend(
            handles[::-1],  # top to bottom, as the areas are stacked
            names[::-1],
            loc="outside right upper",
            title="provider\n(home region, strategy)",
            frameon=False,
            fontsize="small",
            title_fontsize="small",
            labelspacing=0.6,
        )
    return fig


def _line_figure(
    providers: pd.DataFrame, column: str, title: str, ylabel: str, scale: float = 1.0
) -> tuple[Figure, Axes | None]:
    """One line per provider: colour, dash and marker each tell them apart."""
    if providers.empty:
        return _waiting(title), None
    values = _wide(providers, column).astype(float) * scale
    style = looks(list(values.columns))
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, ylabel)
        every = max(1, len(values) // 8)
        for name in values.columns:
            look = style[name]
            ax.plot(
                values.index,
                values[name],
                label=name,
                color=look.color,
                linestyle=look.linestyle,
                marker=look.marker,
                markevery=every,
                markersize=7,
            )
        _months(ax, values.index, pad=0.03)
        fig.legend(loc="outside right upper", frameon=False)
    return fig, ax


def price_figure(providers: pd.DataFrame) -> Figure:
    """Posted price per provider (USD per million tokens, log scale); an exited one stops."""
    posted = providers
    if not providers.empty:
        posted = providers.assign(
            price_usd_per_mtok=providers["price_usd_per_mtok"].where(providers["active"])
        )
    fig, ax = _line_figure(posted, "price_usd_per_mtok", "Posted price", "USD per million tokens")
    if ax is not None:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    return fig


def cash_figure(providers: pd.DataFrame) -> Figure:
    """Cash per provider (USD million): profits and losses, net of hardware bought."""
    fig, ax = _line_figure(providers, "cash_usd", "Cash", "USD million", scale=1e-6)
    if ax is not None:
        ax.axhline(0.0, color="black", linewidth=1.0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    return fig


def utilization_figure(providers: pd.DataFrame) -> Figure:
    """Utilization per provider (% of capacity serving tokens): at 100% demand is rationed."""
    fig, ax = _line_figure(
        providers, "utilization", "Utilization", "% of capacity used", scale=100.0
    )
    if ax is not None:
        ax.set_ylim(0, 105)
    return fig


TOKEN_UNITS = ((1e6, "trillion"), (1e3, "billion"), (1.0, "million"))
"""Mtok divisors and their names, largest first: a readable unit for any market size."""


def flows_figure(flows: pd.DataFrame) -> Figure:
    """Tokens served abroad per month, stacked by the providers' home region (exports)."""
    title = "Cross-border flows by home region"
    if flows.empty:
        return _waiting(title)
    abroad = flows[flows["cross_border"]].pivot_table(
        index="step", columns="home_region", values="served_mtok", aggfunc="sum", sort=False
    )
    abroad = abroad.loc[:, abroad.sum() > 0]  # regions that export (ROW may home nobody)
    peak = abroad.sum(axis=1).max()
    divisor, unit = next((d, u) for d, u in TOKEN_UNITS if peak >= d or d == 1.0)
    regions = list(abroad.columns)
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, f"{unit} tokens / month")
        _stacked(
            ax,
            abroad / divisor,
            [to_hex(c) for c in color_palette("cividis", len(regions))],
            [HATCHES[i % len(HATCHES)] for i in range(len(regions))],
        )
        handles, names = ax.get_legend_handles_labels()
        fig.legend(
            handles[::-1],
            names[::-1],
            loc="outside right upper",
            title="home region",
            frameon=False,
        )
    return fig


TABLE_COLUMNS = {
    "provider": ("provider", "", ""),
    "region": ("home", "", ""),
    "strategy": ("strategy", "", ""),
    "price_usd_per_mtok": ("price", "USD/Mtok", ",.2f"),
    "unit_cost_usd_per_mtok": ("unit cost", "USD/Mtok", ",.2f"),
    "share_pct": ("share", "% tokens", ".1f"),
    "utilization_pct": ("utilization", "%", ".0f"),
    "cash_musd": ("cash", "USD M", ",.0f"),
}
"""Table column -> header, unit and number format (as few digits as the story needs)."""


def starting_providers(spec: Scenario) -> pd.DataFrame:
    """The providers before the first month, in the schema of `provider_frame()` (month 0).

    Only what the scenario fixes is known: home, strategy, posted price, cash; shares,
    utilization and unit cost are missing until the market has cleared once.
    """
    entering = {s.provider.name for s in spec.shocks if s.kind == "entry"}
    providers = spec.all_providers
    return pd.DataFrame(
        {
            "step": 0,
            "provider": [p.name for p in providers],
            "region": [p.home for p in providers],
            "strategy": [p.strategy for p in providers],
            "price_usd_per_mtok": [p.price_usd_per_mtok for p in providers],
            "unit_cost_usd_per_mtok": np.nan,
            "token_share": np.nan,
            "utilization": np.nan,
            "cash_usd": [p.cash_usd for p in providers],
            "active": [p.name not in entering for p in providers],
        }
    )


def provider_table(providers: pd.DataFrame) -> pd.DataFrame:
    """One row per provider in the latest month: price, unit cost, share, utilization, cash.

    An inactive provider's strategy says whether it has exited or not yet entered.
    """
    now = providers[providers["step"] == providers["step"].max()]
    was_active = providers.groupby("provider", sort=False)["active"].any()
    status = np.where(
        now["active"], "", np.where(now["provider"].map(was_active), " (exited)", " (not yet in)")
    )
    table = now.assign(
        strategy=now["strategy"] + status,
        share_pct=now["token_share"] * 100.0,
        utilization_pct=now["utilization"].astype(float) * 100.0,
        cash_musd=now["cash_usd"] / 1e6,
    )
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


def table_html(table: pd.DataFrame, colors: dict[str, str]) -> str:
    """The provider table in large type; each name after a swatch of its chart colour."""
    head = "".join(
        f'<th style="text-align:{"left" if not unit else "right"}">{escape(name)}'
        f"<br><small>{escape(unit)}</small></th>"
        for name, unit, _ in (TABLE_COLUMNS[c] for c in table.columns)
    )
    rows = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            if column == "provider":
                swatch = (
                    '<span style="display:inline-block;width:.9em;height:.9em;margin-right:.4em;'
                    f'vertical-align:-.05em;background:{colors[value]}"></span>'
                )
                cells.append(f"<td>{swatch}{escape(value)}</td>")
            elif isinstance(value, float):
                text = "n/a" if np.isnan(value) else format(value, TABLE_COLUMNS[column][2])
                cells.append(f'<td style="text-align:right">{text}</td>')
            elif column == "strategy":  # may break after an underscore: narrow enough for 7 rows
                breakable = escape(str(value)).replace("_", "_<wbr>")
                cells.append(f'<td class="tm-wrap">{breakable}</td>')
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<table class="tm-providers"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# ---------------------------------------------------------------------------- components
PAGE_CSS = """
.tm-providers {
    font-size: clamp(11px, 0.8vw, 15px); width: 100%;
    border-collapse: collapse; white-space: nowrap;
}
.tm-providers th, .tm-providers td { padding: 4px 6px; border-bottom: 1px solid #ddd; }
.tm-providers small { font-weight: normal; color: #555; }
.tm-providers .tm-wrap { white-space: normal; }
.tm-story { font-size: 16px; font-style: italic; margin-top: 8px; }
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection { font-size: 15px; }
.v-tabs-bar__content > .v-tab { font-size: 0; }
.v-tabs-bar__content > .v-tab::after { font-size: 15px; letter-spacing: normal; }
.v-tabs-bar__content > .v-tab:nth-child(2)::after { content: "Market"; }
.v-tabs-bar__content > .v-tab:nth-child(3)::after { content: "Cash and utilization"; }
.v-navigation-drawer .v-slider__thumb-container::after {
    content: attr(aria-valuenow); position: absolute; top: 0; left: 0;
    transform: translate(-50%, -50%); padding: 0 5px; border-radius: 4px;
    background: #1976d2; color: white; font-size: 13px; line-height: 20px; white-space: nowrap;
}
"""
"""Large type on the projector (the table's shrinks on narrow screens, as the charts do); each
slider shows its value on its thumb (Mesa's sliders otherwise show it only while dragged; the
thumb carries it as `aria-valuenow`); the tabs of SolaraViz's pages say what they hold
instead of "Page 0" and "Page 1"."""


def _chart(draw: Callable[[Frames], Figure]) -> Callable[[ClassroomMarket], Any]:
    """A SolaraViz component drawing `draw` once per month (Mesa re-renders it each step)."""

    def chart(model: ClassroomMarket) -> solara.Element:
        figure = solara.use_memo(lambda: draw(model.frames()), [model, model.steps])
        return solara.FigureMatplotlib(
            figure,
            dependencies=[model, model.steps],
            format="png",
            pil_kwargs={"compress_level": 1},
        )

    return chart


def provider_panel(model: ClassroomMarket) -> solara.Element:
    """The providers this month, in large type, coloured as in the charts."""
    names = [p.name for p in model.spec.all_providers]
    colors = {name: look.color for name, look in looks(names).items()}
    providers = model.frames().providers
    table = provider_table(starting_providers(model.spec) if providers.empty else providers)
    with solara.Column(style={"padding": "4px 8px", "overflow": "auto"}) as column:
        solara.HTML(tag="h3", unsafe_innerHTML=f"Providers in month {model.steps}")
        solara.HTML(tag="div", unsafe_innerHTML=table_html(table, colors))
    return column


COMPONENTS = [
    (_chart(lambda f: share_figure(f.providers)), 0),
    (_chart(lambda f: price_figure(f.providers)), 0),
    (provider_panel, 0),
    (_chart(lambda f: flows_figure(f.flows)), 0),
    (_chart(lambda f: cash_figure(f.providers)), 1),
    (_chart(lambda f: utilization_figure(f.providers)), 1),
]
"""(panel, page): page 0 is the market, one screen; page 1 the firms' cash and utilization.
SolaraViz draws only the open page, so a step redraws three charts, not five."""

preset_title = solara.reactive(next(iter(PRESETS)))
"""The preset picked in this browser session."""


@solara.component
def PresetPicker() -> None:  # noqa: N802 (Solara components are CamelCase)
    """The preset list and the chosen preset's one-line story."""
    spec = preset_scenario(PRESETS[preset_title.value])
    solara.Select(label="Preset", value=preset_title, values=list(PRESETS))
    solara.HTML(tag="div", unsafe_innerHTML=escape(spec.description), classes=["tm-story"])


@solara.component
def PresetViz(preset: str) -> None:  # noqa: N802 (Solara components are CamelCase)
    """SolaraViz on one preset's model; stops the model when the page moves on.

    Mesa's play loop runs in a thread until the model stops `running`, and would outlive
    an unmounted SolaraViz, stepping a model nobody sees. The model is held in a reactive
    passed to SolaraViz, so Reset's rebuilt model is the one stopped.
    """
    model = solara.use_reactive(solara.use_memo(lambda: ClassroomMarket(preset), []))

    def stop_when_gone() -> Callable[[], None]:
        def stop() -> None:
            model.value.running = False

        return stop

    solara.use_effect(stop_when_gone, [])
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=model_params(preset),
        name="TokenMarket: the market for LLM API tokens",
        play_interval=PLAY_INTERVAL_MS,
    )


@solara.component
def Page() -> None:  # noqa: N802 (the name `solara run` looks for)
    """The preset picker and SolaraViz for the chosen preset, rebuilt when the preset changes.

    SolaraViz's sidebar lives in the layout's portal, where a new SolaraViz would find its
    predecessor's control components and keep their state (the previous preset's
    parameters). So a switch takes two renders: one without SolaraViz, then the new one.
    """
    preset = PRESETS[preset_title.value]
    shown, set_shown = solara.use_state(preset)
    solara.use_effect(lambda: set_shown(preset), [preset])
    solara.Title("TokenMarket classroom")
    solara.Style(PAGE_CSS)
    with solara.Sidebar(), solara.Card("Preset"):
        PresetPicker()
    if shown == preset:
        PresetViz(preset)


page = Page()


# ---------------------------------------------------------------------------- serving
def server_command(host: str, port: int) -> list[str]:
    """The `solara run` command line that serves this page (production mode: no reloader)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "tokenmarket.runs.app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--production",
    ]


def server_env() -> dict[str, str]:
    """The server's environment: no telemetry calls out of a classroom, no banner, no noise."""
    return {
        **os.environ,
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        "SOLARA_THEME_SHOW_BANNER": "False",
        # Solara warns, at length, that plain-http 127.0.0.1 falls back to samesite=lax cookies
        "PYTHONWARNINGS": ",".join(
            filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:Cookies with samesite=none"])
        ),
    }


def serve(host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve the app in the foreground until Ctrl-C; the server's exit status (130 on Ctrl-C)."""
    print(f"TokenMarket classroom app on http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    with subprocess.Popen(server_command(host, port), env=server_env()) as server:
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.terminate()
            server.wait()
            return 130
