"""The per-seed table the evaluation scripts print: each model's UA per fold draw (seed), its mean, and with a
reference model the mean paired difference from it and the draws where the model is at least as good. Pure
Python, so scripts that only drive the CLI (ravdess_speech.py) need nothing else."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(per_seed: dict[str, Sequence[float]], title: str, reference: str | None = None) -> None:
    """Markdown table of UA per seed and mean; with ``reference``, each model minus the reference (mean over the
    seeds) and the seeds where the model is at least as good."""
    print(f"\n{title}")
    extra = f" minus {reference} | seeds >= {reference} |" if reference else ""
    print(f"| model | per seed | mean |{extra}\n|---|---|---|{'---|---|' if reference else ''}")
    for name, values in per_seed.items():
        row = f"| {name} | {' '.join(f'{v:.3f}' for v in values)} | {sum(values) / len(values):.3f} |"
        if reference:
            diff = [a - b for a, b in zip(values, per_seed[reference], strict=True)]
            row += f" {sum(diff) / len(diff):+.3f} | {sum(d >= -1e-9 for d in diff)}/{len(diff)} |"
        print(row)
