"""What the HTML pages share: the template environment, inline figures and shortened text.

Pages are self-contained: styles come from a template, figures are PNG data URIs, and a
Content-Security-Policy refuses scripts and anything fetched from elsewhere, so a page
works offline and text printed by student code stays inert even if escaping were missed.
"""

from __future__ import annotations

import base64
import io
from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.figure import Figure

from deepgrade.model.results import Status, format_points

# Small enough for a page of several figures to stay light, sharp enough on a phone.
_DPI = 110

STATUS_ORDER = [
    Status.PASSED,
    Status.FAILED,
    Status.ERROR,
    Status.TIMEOUT,
    Status.FORBIDDEN,
    Status.NOT_IMPLEMENTED,
    Status.MISSING,
]

# The same colours as the badges in style.css, so that figures and tables agree.
STATUS_COLOURS = {
    Status.PASSED: "#2e7d32",
    Status.FAILED: "#c77700",
    Status.ERROR: "#c62828",
    Status.TIMEOUT: "#8e24aa",
    Status.FORBIDDEN: "#ad1457",
    Status.NOT_IMPLEMENTED: "#757575",
    Status.MISSING: "#b0b0b0",
}


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("deepgrade.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["points"] = format_points
    env.filters["label"] = lambda status: Status(status).value.replace("_", " ")
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def new_figure(
    width: float = 6.4,
    height: float = 3.2,
    *,
    layout: Literal["constrained"] | None = "constrained",
) -> Figure:
    """A figure outside pyplot: no global state, safe in threads, Agg when saved. Without a
    layout engine (which draws it twice more) the caller places the axes."""
    return Figure(figsize=(width, height), layout=layout)


def figure_uri(figure: Figure) -> str:
    """The figure as a PNG data URI for an ``<img src>``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def shorten(text: str, limit: int) -> str:
    """Keep the start and the end of a long text (where tracebacks end), say what was cut."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 3) :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters left out ...]\n{tail}"
