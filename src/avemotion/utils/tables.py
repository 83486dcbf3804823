"""Formatting shared by every report (``avemotion train``, ``compare``, the demo): numbers, CSV and Markdown
tables."""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from pathlib import Path

from avemotion.utils.atomic import atomic_open


def fmt(v: object, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def pfmt(p: float | None) -> str:
    return "-" if p is None else f"{p:.3g}"


def cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    fields = list(rows[0])
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for row in rows:
            w.writerow({k: cell(row.get(k)) for k in fields})


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a Markdown table (cells already formatted, or formatted with :func:`fmt`)."""
    def text(v: object) -> str:
        return v if isinstance(v, str) else fmt(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in rows]
    return lines


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table (cells escaped)."""
    def text(v: object) -> str:
        return html.escape(v if isinstance(v, str) else fmt(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
