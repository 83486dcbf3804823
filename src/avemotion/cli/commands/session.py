"""``avemotion session RECORDING [--out DIR] [--json] [--rttm] [--speakers auto|N] [--adapt speaker|none] [--no-faces]
[--model RUNDIR|NAME]``.

Session analysis of a long recording (audio file or video): who speaks when (voice activity detection, speaker
diarization), each speech segment's emotion, valence and arousal; in a video also the faces on camera (which
face is seen in each segment, whether it is speaking, its expression; ``--no-faces`` skips them). Writes
``DIR/<name>.session.json`` and the self-contained report ``DIR/<name>.session.html`` (with ``--rttm`` also
``DIR/<name>.rttm``) and keeps each stage's results in ``DIR/.<name>.session-cache`` (``--no-cache``:
not), so that an interrupted run resumes where it stopped; nothing else, nowhere else. ``--json`` also prints
the JSON. ``--adapt``: per-speaker adaptation of models trained with speaker normalisation
(:mod:`avemotion.inference.session.adapt`). Needs the ``[session]`` extra (``pip install 'avemotion[session]'``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avemotion.cli.commands._execution_args import add_device_option
from avemotion.cli.common import add_model_argument
from avemotion.errors import ConfigError
from avemotion.inference.session.adapt import ADAPT_MODES, DEFAULT_ADAPT


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("session", help="who speaks when in a long recording, and each speaker's emotions "
                                              "(JSON + HTML report)")
    p.add_argument("recording", type=Path, metavar="RECORDING", help="audio file or video")
    p.add_argument("--out", type=Path, default=Path("sessions"), metavar="DIR",
                   help="folder for RECORDING.session.json and .session.html (default: ./sessions)")
    p.add_argument("--json", action="store_true", help="also print the session JSON on stdout")
    p.add_argument("--rttm", action="store_true",
                   help="also write DIR/RECORDING.rttm: the speaker turns for diarization and annotation tools")
    p.add_argument("--speakers", default="auto", metavar="auto|N",
                   help="number of speakers: auto (found from the recording, default) or N when you know it")
    p.add_argument("--segment", type=float, default=4.0, metavar="SECONDS",
                   help="speech turns are analysed in pieces of at most this many seconds (default 4)")
    p.add_argument("--eaf", action="store_true",
                   help="also write DIR/RECORDING.eaf for ELAN: a tier per speaker (emotion per segment), valence and "
                        "arousal tiers")
    p.add_argument("--tiers", action="store_true", help="also write DIR/RECORDING.tiers.csv: the same tiers as "
                   "rows tier,start,end,value")
    p.add_argument("--name", action="append", default=[], metavar="ID=NAME",
                   help="name a speaker (--name S1=client --name S2=counsellor); ids given the same name are merged "
                        "into one speaker (a voice split in two); repeatable")
    p.add_argument("--adapt", choices=ADAPT_MODES, default=DEFAULT_ADAPT,
                   help="speaker: answer each speaker's segments together, with that speaker's own statistics, when "
                        "the model was trained with --set train.normalize=speaker (or recording); none: one segment "
                        "at a time. Models trained with global normalisation are not affected "
                        "(default: %(default)s)")
    p.add_argument("--no-faces", dest="faces", action="store_false",
                   help="do not track the faces of a video (the voice only; every segment's face is null)")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="do not keep or reuse the stage results in DIR/.RECORDING.session-cache (by default an "
                        "interrupted run resumes from them, and a rerun with the same settings reuses them)")
    add_model_argument(p)
    add_device_option(p, "session analysis")
    p.set_defaults(func=run)


def parse_speakers(value: str) -> int | None:
    """``auto`` -> None; a positive whole number -> itself; anything else is a :class:`ConfigError`."""
    if value.strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--speakers must be 'auto' or a positive whole number, not {value!r}")
    return n


def parse_names(items: list[str]) -> dict[str, str]:
    """``["S1=client", ...]`` -> ``{"S1": "client"}``; a :class:`ConfigError` for an item without ``=``."""
    names = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--name takes ID=NAME (e.g. S1=client), not {item!r}")
        names[key.strip()] = value.strip()
    return names


def run(args: argparse.Namespace) -> int:
    from avemotion.inference.api import load_model
    from avemotion.inference.session.cache import SessionCache
    from avemotion.inference.session.pipeline import analyze_session, cache_settings
    from avemotion.models.device import set_inference_device
    from avemotion.utils.progress import log

    speakers = parse_speakers(args.speakers)
    names = parse_names(args.name)
    if args.segment <= 0.5:
        raise ConfigError("--segment must be longer than 0.5 seconds")
    set_inference_device(args.device)
    loaded = load_model(args.model)
    cache = None
    if args.cache and args.recording.is_file():
        cache = SessionCache(args.out / f".{args.recording.stem}.session-cache", args.recording,
                             cache_settings(loaded, speakers, args.segment, 1.0, None, args.faces, args.adapt))
    result = analyze_session(args.recording, loaded, speakers=speakers, max_segment=args.segment,
                             faces=args.faces, cache=cache, adapt=args.adapt)
    if names:
        result = result.with_speaker_names(names)
    paths = result.save(args.out, rttm=args.rttm, eaf=args.eaf, tiers=args.tiers)
    if args.json:
        sys.stdout.write(result.to_json() + "\n")
    found = ", ".join(f"{s.id} {s.speech_seconds:.0f} s" for s in result.speakers)
    log(f"{len(result.speakers)} speaker(s) ({found}); wrote {', '.join(map(str, paths))}")
    return 0
