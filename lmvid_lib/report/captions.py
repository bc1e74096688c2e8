"""Numbered captions: `Captions(chapter)` numbers the figures ("Figure 2.1.") and tables ("Table 3.2.") of a chapter,
as display objects that render the same in the book and in JupyterLab (HTML: `<figure>` / `<table>` with their
caption)."""

from __future__ import annotations

import base64
import io
from typing import Any

from lmvid_lib.report.tables import Table, inline_html


class Figure:
    """A captioned figure for `IPython.display.display`: `body` is an HTML fragment (an image or an animation)."""

    def __init__(self, body: str, caption: str, full_width: bool):
        self.body = body
        self.caption = caption
        self.full_width = full_width

    def _repr_html_(self) -> str:
        return (
            f'<figure class="lmvid-figure{" full-width" if self.full_width else ""}">{self.body}'
            f"<figcaption>{inline_html(self.caption)}</figcaption></figure>"
        )

    def __repr__(self) -> str:
        return f"Figure({self.caption!r})"


def png_html(fig: Any, dpi: int = 110) -> str:
    """A matplotlib figure as an `<img>` with an embedded PNG; the figure is closed (so it is not shown twice)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%;height:auto" alt="figure">'


class Captions:
    """Numbers the figures and tables of chapter `chapter` in the order they are shown ("Figure 2.3"); a page
    outside the numbered chapters (the introduction) passes None ("Figure 3")."""

    def __init__(self, chapter: int | str | None):
        self.prefix = "" if chapter is None else f"{chapter}."
        self.n_figures = 0
        self.n_tables = 0

    def figure(self, fig: Any, caption: str, full_width: bool = False) -> Figure:
        """`fig`: a matplotlib figure, or an HTML fragment (e.g. an animation from `report.figures.animate`)."""
        self.n_figures += 1
        body = fig if isinstance(fig, str) else png_html(fig)
        return Figure(body, f"**Figure {self.prefix}{self.n_figures}.** {caption}", full_width)

    def table(self, markdown: str, caption: str) -> Table:
        self.n_tables += 1
        return Table(markdown, f"Table {self.prefix}{self.n_tables}. {caption}")
