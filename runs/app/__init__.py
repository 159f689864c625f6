"""The classroom app: a Mesa SolaraViz page a teacher drives live in front of a class.

Serve it with `tokenmarket app` (or `serve()`, or `solara run tokenmarket.runs.app.page`: the
module, as the package would be served as one page per submodule). The
page assets come from the installed `solara-assets` package, so it runs without internet.

`controls` holds the presets, the controls (read from the knob registry) and the model they
build; `figures` the charts (calendar dates on the x axis) and the provider table; `page`
the Solara page. Side by side, `compare` runs a preset twice one knob apart, `scorecard`
says which run a provider did better in and why, `side` is that view of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tokenmarket.runs.app.compare import SideBySide, comparable_knobs
from tokenmarket.runs.app.controls import (
    AS_IN_SCENARIO,
    CROSS_BORDER,
    PRESETS,
    ClassroomMarket,
    model_params,
    shown_values,
)
from tokenmarket.runs.app.figures import (
    cash_figure,
    flows_figure,
    looks,
    pair_figure,
    price_figure,
    provider_table,
    share_figure,
    starting_providers,
    table_html,
    utilization_figure,
)
from tokenmarket.runs.app.page import Page, mode, page, preset_title
from tokenmarket.runs.app.scorecard import scorecard

__all__ = [
    "AS_IN_SCENARIO",
    "CROSS_BORDER",
    "PRESETS",
    "ClassroomMarket",
    "Page",
    "SideBySide",
    "cash_figure",
    "comparable_knobs",
    "flows_figure",
    "looks",
    "mode",
    "model_params",
    "page",
    "pair_figure",
    "preset_title",
    "price_figure",
    "provider_table",
    "scorecard",
    "serve",
    "server_command",
    "server_env",
    "share_figure",
    "shown_values",
    "starting_providers",
    "table_html",
    "utilization_figure",
]


def server_command(host: str, port: int) -> list[str]:
    """The `solara run` command line that serves this page (production mode: no reloader)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "tokenmarket.runs.app.page",
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
