"""The base of every config section: strict (unknown keys are errors), validated on assignment, and marking each
of its settings as the paper's value or ours."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. ``PAPER`` lists the fields whose default is the paper's value; every other default is
    ours, and ``PAPER_DIFFERS`` gives the paper's value where it states one that we do not use by default. A field
    whose type is itself a section (an extractor's settings) is a subsection."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    PAPER: ClassVar[dict[str, Any]] = {}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {}

    @classmethod
    def subsections(cls) -> dict[str, type[Section]]:
        """Field name -> section class, for the fields that are sections themselves."""
        out = {}
        for name, field in cls.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
                out[name] = field.annotation
        return out

    @classmethod
    def provenance(cls) -> dict[str, str]:
        """Dotted field -> "paper", or "ours" (with the paper's own value when it states a different one); the
        fields of subsections as ``sub.field``."""
        out: dict[str, str] = {}
        subs = cls.subsections()
        for name in cls.model_fields:
            if name in subs:
                out.update({f"{name}.{k}": v for k, v in subs[name].provenance().items()})
            elif name in cls.PAPER:
                out[name] = "paper"
            elif name in cls.PAPER_DIFFERS:
                out[name] = f"ours (paper: {cls.PAPER_DIFFERS[name]})"
            else:
                out[name] = "ours"
        return out
