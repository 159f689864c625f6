"""What a class can try with each preset, and the words on screen in plain language.

Each experiment names the control to move (as the sidebar labels it) and the question it
answers; a moved control takes effect on Reset. The glossary explains the terms the
charts, the table and the controls use.
"""

from __future__ import annotations

TRY: dict[str, list[tuple[str, str]]] = {
    "classroom": [
        (
            "Set cn_lowcost's strategy to differentiation, then Reset.",
            "Does the cheap provider keep its share without undercutting?",
        ),
        (
            "Raise the switching cost to 5 utils, then Reset.",
            "When moving is costly, do shares freeze where they start?",
        ),
        (
            "Set cross-border access to 'closed', then Reset.",
            "Who loses when developers can buy only from their own region?",
        ),
    ],
    "price_war": [
        (
            "Set us_budget's strategy to cost_plus, then Reset.",
            "Does the war end when one of the two price cutters stops?",
        ),
        (
            "Raise the switching cost to 5 utils, then Reset.",
            "Does a sticky market protect the premium lab's share?",
        ),
    ],
    "differentiation_wins": [
        (
            "Raise homogenization to 0.2, then Reset.",
            "If rivals copy quality fast, does differentiation still pay?",
        ),
        (
            "Set us_frontier's strategy to low_price, then Reset.",
            "Does the quality leader earn more by cutting its price?",
        ),
    ],
    "demand_driven": [
        (
            "Set demand growth to 0, then Reset.",
            "Do prices still rise, or was it demand that pushed them up?",
        ),
        (
            "Double the US electricity price, then Reset.",
            "How much of the price is the power bill?",
        ),
    ],
    "going_global": [
        (
            "Set cross-border access to 'US bans foreign APIs', then Reset.",
            "Who loses share, and where do the Chinese providers sell instead?",
        ),
        (
            "Raise the CN electricity price to the US level, then Reset.",
            "Is cheap power what lets the CN providers win abroad?",
        ),
        (
            "Set cross-border access to 'open', then Reset.",
            "What do the scenario's bans cost the developers' choice?",
        ),
    ],
}
"""Built-in scenario -> (what to do, the question it answers)."""

GLOSSARY: dict[str, str] = {
    "Token market share": "Of all the tokens served in the month, worldwide, the share each "
    "provider served.",
    "USD/Mtok": "US dollars per million tokens: what a developer pays (price) or what serving "
    "costs the provider (unit cost).",
    "Utilization": "The share of a provider's computing capacity that served tokens. At 100% "
    "it turns demand away.",
    "Negative cash": "The provider has spent more (power, hardware, staff) than it earned: it "
    "lives on credit. Too deep or too long, and it exits.",
    "PUE": "Power usage effectiveness: the power a data centre draws for every watt its chips "
    "use (cooling, losses). 1.1 is efficient, 1.6 is old.",
    "Homogenization": "How fast rivals catch up on quality: the share of its gap to the best "
    "model a provider closes each month.",
    "Outside option": "Not buying any API this month (running a model oneself, or waiting). "
    "A developer picks it when every offer is worth less.",
    "Utils": "The unit of a developer's satisfaction in the choice model. Switching cost in "
    "utils is how much better a rival must be before a developer moves.",
    "Cross-border flows": "Tokens a provider serves to developers outside its home region.",
    "NPV": "Net present value: the profits of all months added up, a month's profit counting "
    "less the later it comes (the scenario's yearly discount rate).",
    "Margin": "In the scorecard, profit per million tokens served, after all costs: what each "
    "token sold left the provider.",
}
"""Term on screen -> a plain-language explanation."""

COMPARE: dict[str, tuple[str, str | float]] = {
    "classroom": ("strategy_cn_lowcost", "differentiation"),
    "price_war": ("strategy_us_budget", "cost_plus"),
    "differentiation_wins": ("homogenization", 0.2),
    "demand_driven": ("demand_growth", 0.0),
    "going_global": ("electricity_CN", 0.081),
}
"""Built-in scenario -> the comparison side by side starts with: a knob and run B's value
(run A keeps the preset's). Each is the preset's first or second experiment in `TRY`, so
the class sees both answers at once instead of one after a Reset."""
