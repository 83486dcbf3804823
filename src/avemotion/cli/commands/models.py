"""``avemotion models [--json]``: the models bundled with the package (``avemotion predict`` uses ``default``).

One row per model: name, label set, modalities, training data, evaluation protocol, headline metrics
(whatever its card's ``metrics`` holds: WA / UA per evaluation, nested groups flattened) and licence.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

#: metrics shown first in a group, in this order; the others follow in the card's order
HEADLINE = ("wa", "ua", "f1", "macro_f1", "cc")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the models bundled with the package")
    p.add_argument("--json", action="store_true", help="print the model cards as a JSON list")
    p.set_defaults(func=run)


def metric_lines(metrics: Any, prefix: str = "") -> list[str]:
    """``name: wa 0.71, ua 0.69`` per group of numbers in a card's metrics, nested groups as ``a / b``; lists
    (e.g. the classes present) are details left to ``--json``."""
    if not isinstance(metrics, dict):
        return [f"{prefix}: {_fmt(metrics)}"] if prefix else [_fmt(metrics)]
    numbers = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    lines = []
    if numbers:
        keys = [k for k in HEADLINE if k in numbers] + [k for k in numbers if k not in HEADLINE]
        text = ", ".join(f"{k} {_fmt(numbers[k])}" for k in keys)
        lines.append(f"{prefix}: {text}" if prefix else text)
    for key, value in metrics.items():
        if isinstance(value, dict):
            lines.extend(metric_lines(value, f"{prefix} / {key}" if prefix else str(key)))
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def run(args: argparse.Namespace) -> int:
    from avemotion.inference.bundled import DEFAULT_NAME, bundled_models, bundled_root

    models = bundled_models()
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return 0
    if not models:
        print(f"no bundled models in this installation ({bundled_root()}); pass --model RUNDIR (a run folder of "
              "`avemotion train`) to predict and serve")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "label set", "modalities", "training data", "protocol", "metrics", "licence",
                  title="bundled models", show_lines=True)
    for m in models:
        c = m.card
        name = f"{m.name} (default)" if m.name == DEFAULT_NAME else m.name
        table.add_row(name, _text(c.get("label_set")), _text(c.get("modalities")), _text(c.get("training_data")),
                      _text(c.get("protocol")), "\n".join(metric_lines(c.get("metrics", {}))) or "-",
                      _text(c.get("licence")))
    console = Console()
    console.print(table)
    for m in models:
        card = f" (model card: {m.card['card']})" if m.card.get("card") else ""
        console.print(f"{m.name}: {_text(m.card.get('summary'))}{card}", highlight=False)
    console.print("use one with `avemotion predict --model NAME FILE`; without --model, `default` answers",
                  highlight=False)
    return 0
