"""State shared by the demo's stages (:mod:`avemotion.cli.commands.demo`) and its report
(:mod:`avemotion.cli.demo_report`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at start-up: the CLI parser must build without numpy or scipy
    from avemotion.config import Config
    from avemotion.data.synthetic.corpus import CorpusParams

#: small defaults so that the whole pipeline finishes in minutes on two cores
DEMO_PER_CLASS = 20
DEMO_SPEAKERS = 5
DEMO_SECONDS = 2.5
DEMO_EPOCHS = 40
HELDOUT_SEED_OFFSET = 1000  # the held-out speaker's seed: a voice and face never seen in training


@dataclass
class DemoContext:
    out: Path
    config: Config
    corpus_params: CorpusParams
    workers: int
    corpus_dir: Path = Path()
    metadata: list[dict[str, str]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)  # relative path -> seconds
    results: dict[str, object] = field(default_factory=dict)  # what later stages report
    epochs: int = DEMO_EPOCHS
    folds: int = 5
    modalities: list[str] = field(default_factory=lambda: ["av", "audio", "video"])
    features_dir: Path = Path()
    runs: dict[str, Path] = field(default_factory=dict)  # modality -> run folder
    heldout: list[dict[str, object]] = field(default_factory=list)
