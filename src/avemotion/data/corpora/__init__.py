"""Corpus loaders (RAVDESS, CREMA-D, IEMOCAP, folder), registered by name in ``CORPORA``."""

from avemotion.data.corpora import cremad, folder, iemocap, ravdess  # noqa: F401  (registration)
from avemotion.data.corpora.base import CORPORA, Corpus, CorpusError, get_corpus, load_corpus

__all__ = ["CORPORA", "Corpus", "CorpusError", "get_corpus", "load_corpus"]
