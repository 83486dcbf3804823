"""Arguments shared by commands that read a corpus: --corpus, --root, --option, --label-map, --drop-unmapped."""

from __future__ import annotations

import argparse
from pathlib import Path

from avemotion.data.corpora import CORPORA, Corpus, load_corpus
from avemotion.data.labelmap import LabelMapping, check_labels
from avemotion.data.manifest import ClipRecord
from avemotion.errors import ConfigError
from avemotion.labels import LabelSet
from avemotion.utils.progress import log


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, choices=CORPORA.names(), help="corpus layout")
    parser.add_argument("--root", required=True, type=Path, help="the corpus's root folder")
    parser.add_argument("--option", dest="corpus_options", action="append", default=[], metavar="KEY=VALUE",
                        help="corpus loader option, e.g. channel=speech (RAVDESS), labels=full (IEMOCAP)")
    parser.add_argument("--label-map", metavar="FILE|NAME",
                        help="map native labels onto another set (YAML, or a built-in such as ravdess_to_paper9)")
    parser.add_argument("--drop-unmapped", action="store_true", help="drop clips whose label has no mapping")


def corpus_from_args(args: argparse.Namespace) -> tuple[Corpus, list[ClipRecord], LabelSet]:
    options = {}
    for item in args.corpus_options:
        if "=" not in item:
            raise ConfigError(f"--option {item!r} must look like key=value")
        key, value = item.split("=", 1)
        options[key.strip()] = value.strip()
    corpus, records = load_corpus(args.corpus, args.root, **options)
    if args.label_map:
        mapping = LabelMapping.load(args.label_map)
        records, dropped = mapping.apply(records, drop_unmapped=args.drop_unmapped)
        if dropped:
            log(f"dropped {sum(dropped.values())} clips with unmapped labels: "
                + ", ".join(f"{k} ({v})" for k, v in sorted(dropped.items())))
        label_set = mapping.target
    else:
        label_set = corpus.label_set(records)
    check_labels(records, label_set)
    return corpus, records, label_set
