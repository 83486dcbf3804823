"""The page's built-in sample recording (``static/sample.mp4``): one synthetic speaker, three emotions in turn.

Made with the project's own synthetic corpus (:mod:`avemotion.data.synthetic.corpus`), so it is free to ship:
the same speaker says three 2.5 s takes (joy, anger, sadness) back to back, 192x192 at 15 frames/s. The file
is committed; regenerate it with ``python -m avemotion.web.sample`` (deterministic up to the encoder).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).parent / "static" / "sample.mp4"
EMOTIONS = ("joy", "anger", "sadness")
SPEAKER = 0
MAX_BYTES = 300_000


def make_sample(out: Path = SAMPLE) -> Path:
    from avemotion.data.synthetic.corpus import ClipSpec, CorpusParams, render_clip
    from avemotion.data.synthetic.profiles import label_names
    from avemotion.media.write import write_media

    params = CorpusParams(seconds=2.5, width=192, height=192, seed=0)
    names = label_names(params.labels)
    clips = [render_clip(ClipSpec(e, names.index(e), 0, SPEAKER, ""), params) for e in EMOTIONS]
    frames = np.concatenate([c.frames for c in clips])
    audio = np.concatenate([c.audio for c in clips])
    write_media(out, list(frames), fps=params.fps, audio=audio, sample_rate=params.sample_rate, crf=30,
                preset="slow", audio_bitrate=48000)
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out}: {size} bytes, more than {MAX_BYTES}")
    return out


if __name__ == "__main__":
    path = make_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE)
    print(f"{path}: {path.stat().st_size} bytes")
