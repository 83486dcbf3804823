"""Registries: extractors, models, corpora and label mappings are registered by name.

A new extractor or model is one file with ``@EXTRACTORS.register("name")`` (or ``MODELS``), imported by its
package's ``__init__``. Configs and the CLI then choose it by that name; an extractor's settings are the config
section of its name (``audio.<name>`` / ``video.<name>``, in :mod:`avemotion.config`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (extractor, model, corpus...), registered by a decorator."""

    def __init__(self, kind: str) -> None:
        """An empty registry; ``kind`` names the entries in error messages."""
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering its object as ``name`` (a second, different object under it is an error)."""

        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The entry ``name``; a KeyError listing the known names when there is none."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is registered."""
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        """The registered names, sorted."""
        return iter(sorted(self._items))
