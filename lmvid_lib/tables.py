"""Markdown tables for notebook output (pandas is not a dependency)."""

from __future__ import annotations

from typing import Any, Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   right_align: Sequence[bool] | None = None) -> str:
    """A GitHub-flavoured markdown table; `right_align[i]` right-aligns column i (numbers), default all left."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row {list(row)} has {len(row)} cells for {len(header)} columns")
    align = list(right_align) if right_align is not None else [False] * len(header)
    cells = [[str(c).replace("|", "\\|") for c in r] for r in [header, *rows]]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---:" if a else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)
