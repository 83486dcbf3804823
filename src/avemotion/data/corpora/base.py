"""Corpus loaders turn a corpus folder into a manifest of :class:`ClipRecord` s.

A loader is a class registered in ``CORPORA`` by name with ``native_labels`` (a LabelSet or ``None`` when
the labels come from the data, as for a user's folder) and ``load(root, **options) -> list[ClipRecord]``.
Options are strings from the CLI (``--option key=value``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path

from avemotion.data.manifest import ClipRecord
from avemotion.errors import CorpusError
from avemotion.labels import PAPER9, LabelSet, custom_label_set, get_label_set, label_set_names
from avemotion.registry import Registry
from avemotion.utils.progress import warn


class Corpus(ABC):
    """A corpus loader: reads a corpus folder into :class:`ClipRecord` s, registered in ``CORPORA`` by name."""

    name: str = ""
    native_labels: LabelSet | None = None
    #: what speaker-independent folds keep together by default: "speaker", or a record field (IEMOCAP: "session",
    #: the field's protocol; its sessions are dyads of two speakers)
    default_group_by: str = "speaker"
    #: options accepted by load(), with a one-line description each
    options: dict[str, str] = {}

    @abstractmethod
    def load(self, root: Path, **options: str) -> list[ClipRecord]:
        """All clips under ``root``."""

    def label_set(self, records: list[ClipRecord]) -> LabelSet:
        """The corpus's native label set.

        For data-defined labels (a folder): a registered set with exactly those labels; else, when they are all
        among the paper's nine, those emotions in the paper's order with the paper's grade intervals; else a new
        set of the labels found.
        """
        if self.native_labels is not None:
            return self.native_labels
        found = {r.label.strip().lower() for r in records}
        for name in label_set_names():
            known = get_label_set(name)
            if set(known.labels) == found:
                return known
        if found <= set(PAPER9.labels):
            keep = [i for i, label in enumerate(PAPER9.labels) if label in found]
            return LabelSet(name=f"{PAPER9.name}-subset", labels=tuple(PAPER9.labels[i] for i in keep),
                            grades=tuple(PAPER9.grades[i] for i in keep) if PAPER9.grades else None,
                            description="a subset of the paper's nine emotions, with their grades")
        return custom_label_set(sorted(found), name=self.name)

    def check_options(self, options: dict[str, str]) -> None:
        """Raise a :class:`CorpusError` naming the accepted options when ``options`` has others."""
        unknown = set(options) - set(self.options)
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in self.options.items()) or "none"
            raise CorpusError(f"corpus {self.name!r} has no option {', '.join(sorted(unknown))}; options: {known}")


CORPORA: Registry[type[Corpus]] = Registry("corpus")


def get_corpus(name: str) -> Corpus:
    """A loader of the corpus registered as ``name`` (a :class:`CorpusError` when there is none)."""
    try:
        return CORPORA.get(name)()
    except KeyError as exc:
        raise CorpusError(str(exc.args[0])) from None


def load_corpus(name: str, root: str | Path, **options: str) -> tuple[Corpus, list[ClipRecord]]:
    """The loader and the clips of corpus ``name`` under ``root``; no clips or duplicate ids are errors."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise CorpusError("corpus folder not found", root)
    corpus = get_corpus(name)
    corpus.check_options(options)
    records = corpus.load(root, **options)
    if not records:
        raise CorpusError(f"no {name} clips found (is this the corpus's root folder?)", root)
    dupes = [cid for cid, n in Counter(r.clip_id for r in records).items() if n > 1]
    if dupes:
        raise CorpusError(f"duplicate clip ids, e.g. {dupes[:3]}", root)
    return corpus, records


def walk_files(root: Path) -> list[Path]:
    """Every file under ``root``, sorted, following symbolic links to folders and to files.

    A corpus laid out as links is common. Paths keep the links' own names. Each real folder is entered once, so
    a link loop ends. A dangling link is skipped with a warning naming the link itself.
    """
    files: list[Path] = []
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in [*names, *dirs]:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                warn(f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist); skipped")
            elif name in names:
                files.append(path)
    return sorted(files)


def parse_bool(value: str | bool) -> bool:
    """A yes/no option value (1/0, true/false, yes/no, on/off) as a bool."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise CorpusError(f"expected a yes/no value, got {value!r}")
