"""Tables for notebook output: GitHub-flavoured markdown, and a captioned display object that renders as HTML.

The book (MyST-NB) and JupyterLab both prefer an output's `text/html` over its `text/markdown`, so `Table` carries a
real `<table>` with its caption (rendered by markdown-it-py, the parser MyST itself uses) and keeps the markdown for
plain-text front ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], right_align: Sequence[bool] | None = None
) -> str:
    """A GitHub-flavoured markdown table; `right_align[i]` right-aligns column i (numbers), default all left."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row {list(row)} has {len(row)} cells for {len(header)} columns")
    align = list(right_align) if right_align is not None else [False] * len(header)
    cells = [[str(c).replace("|", "\\|") for c in r] for r in [header, *rows]]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---:" if a else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)


def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def inline_html(text: str) -> str:
    """Inline markdown (code, emphasis, links) as HTML, raw HTML escaped."""
    return _parser().renderInline(text)


def table_html(markdown: str, caption: str) -> str:
    """One markdown table as an HTML `<table>` in a `<figure>` whose `<figcaption>` is `caption` (inline markdown).

    The caption sits outside the table's horizontal scroller (the theme's), so a wide table never clips it.
    """
    rendered = _parser().render(markdown)
    if rendered.count("<table>") != 1:
        raise ValueError(f"expected exactly one markdown table, got {rendered.count('<table>')} in {markdown[:80]!r}")
    table = rendered.replace("<table>", '<table class="table">', 1)
    return (
        f'<figure class="lmvid-table"><figcaption>{inline_html(caption)}</figcaption>'
        f'<div class="pst-scrollable-table-container">{table}</div></figure>'
    )


class Table:
    """A captioned table for `IPython.display.display`: HTML for the book and JupyterLab, markdown as fallback."""

    def __init__(self, markdown: str, caption: str):
        self.markdown = markdown
        self.caption = caption
        self._html = table_html(markdown, caption)  # validated now, so a malformed table fails in its own cell

    def _repr_html_(self) -> str:
        return self._html

    def _repr_markdown_(self) -> str:
        return f"**{self.caption}**\n\n{self.markdown}"

    def __repr__(self) -> str:
        return f"Table({self.caption!r})"
