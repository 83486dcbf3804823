"""Short content hashes: of a text, and of a JSON-able record (keys sorted). Run folders, feature-store
configs and clip keys are named by these; each caller fixes its algorithm and length, which must never
change."""

from __future__ import annotations

import hashlib
import json


def text_digest(text: str, algorithm: str = "sha256", length: int = 16) -> str:
    """The first ``length`` hex digits of the ``algorithm`` hash of ``text`` (UTF-8)."""
    return hashlib.new(algorithm, text.encode()).hexdigest()[:length]


def json_digest(record: object, algorithm: str = "sha256", length: int = 16) -> str:
    """:func:`text_digest` of ``record`` as JSON with sorted keys (values JSON cannot hold as their
    ``str``)."""
    return text_digest(json.dumps(record, sort_keys=True, default=str), algorithm, length)
