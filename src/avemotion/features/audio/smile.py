"""openSMILE feature sets (paper eq. 5): IS09 (384 functionals), IS11 (4368), IS13 (6373) by default.

The configs are the ones ``opensmile==2.6.0`` ships (``opensmile/core/config/is09-13/`` etc.). Instead of two
``opensmile.Smile`` objects per set (one per feature level, each decoding and analysing the signal again),
one openSMILE instance per set runs the set's config once with three external sinks (``smile_conf/``): the
low-level descriptors (LLDs), their deltas and the functionals. The instance is created lazily, kept per
process and *reset* between clips (``smile_reset``), so the config is parsed once per process, not per clip.

Sequence: LLDs (+ deltas) of the section's ``lld_sets`` (default: the same sets), 10 ms frames.
Vector: the functionals of its ``sets`` in that order.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion.config import OpenSmileConfig
from avemotion.errors import ClipTooShort, ConfigError
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio.common import AudioExtractor, ExtractorOutput, Stream, finite

_CONF_DIR = Path(__file__).resolve().parent / "smile_conf"

#: selectable sets -> (config path under opensmile/core/config without .conf, has an lld_de level)
FEATURE_SETS: dict[str, tuple[str, bool]] = {
    "IS09": ("is09-13/IS09_emotion", True),
    "IS10": ("is09-13/IS10_paraling_compat", True),
    "IS11": ("is09-13/IS11_speaker_state", True),
    "IS12": ("is09-13/IS12_speaker_trait_compat", True),
    "IS13": ("is09-13/IS13_ComParE", True),
    "ComParE_2016": ("compare/ComParE_2016", True),
    "eGeMAPSv02": ("egemaps/v02/eGeMAPSv02", False),
    "eGeMAPSv01b": ("egemaps/v01b/eGeMAPSv01b", False),
    "GeMAPSv01b": ("gemaps/v01b/GeMAPSv01b", False),
}
_SINKS = ("avelld", "avellde", "avefunc")
#: LLD frames handed to Python per sink callback (one callback per frame is slow: see
#: docs/experiments/2026-12-06-audio-branch-speed.md); with blocks, openSMILE's end-of-input flush drops up to a
#: few (<= 5) of the last 10 ms frames.
LLD_BLOCK = 100


def canonical_set(name: str) -> str:
    """Case-insensitive set name -> its key in :data:`FEATURE_SETS` (ConfigError when unknown)."""
    for key in FEATURE_SETS:
        if key.lower() == str(name).lower().replace("-", "_"):
            return key
    raise ConfigError(f"unknown openSMILE feature set {name!r}; choose from {', '.join(FEATURE_SETS)}")


def _config_root() -> Path:
    import opensmile.core.smile as smile_module  # the package, not this file

    return Path(smile_module.__file__).resolve().parent / "config"


@dataclass
class SmileResult:
    lld: Stream
    lld_de: Stream | None
    func: np.ndarray


class SmileRunner:
    """One openSMILE instance for one feature set at one sample rate, reused clip after clip."""

    def __init__(self, feature_set: str, sample_rate: int) -> None:
        from opensmile.core.config import config as smile_config

        self.feature_set = canonical_set(feature_set)
        self.sample_rate = int(sample_rate)
        rel, self.has_deltas = FEATURE_SETS[self.feature_set]
        root = _config_root()
        self._config_file = str(root / f"{rel}.conf")
        sink = "sinks_lld_de_func.conf.inc" if self.has_deltas else "sinks_lld_func.conf.inc"
        self._options = {
            "source": str(root / smile_config.EXTERNAL_INPUT_CONFIG),
            "sink": str(_CONF_DIR / sink),
            "sampleRate": self.sample_rate,
            "nBits": 16,
            "bufferModeRbConf": str(root / "shared/BufferModeRb.conf.inc"),
            "frameModeFunctionalsConf": str(root / "shared/FrameModeFunctionals.conf.inc"),
            "lldBlockSize": LLD_BLOCK,
        }
        self._sinks = _SINKS if self.has_deltas else ("avelld", "avefunc")
        self._smile = None
        self._lock = threading.Lock()
        self.dims: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}
        self._open()

    def _open(self) -> None:
        from opensmile.core.lib import OpenSMILE

        smile = OpenSMILE()
        smile.initialize(config_file=self._config_file, options=self._options, loglevel=1)
        self._smile = smile
        if not self.dims:
            for sink in self._sinks:
                n = smile.external_sink_get_num_elements(sink)
                self.dims[sink] = n
                self.names[sink] = [smile.external_sink_get_element_name(sink, i) for i in range(n)]

    def close(self) -> None:
        if self._smile is not None:
            self._smile.free()
            self._smile = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass

    def run(self, audio: np.ndarray) -> SmileResult:
        """Analyse a mono float signal in [-1, 1] at ``self.sample_rate``."""
        pcm = (np.clip(audio, -1.0, 32767.0 / 32768.0) * 32768.0).astype(np.int16)
        rows: dict[str, list[np.ndarray]] = {s: [] for s in self._sinks}
        times: dict[str, list[np.ndarray]] = {s: [] for s in self._sinks}

        def collector(sink: str):
            def callback(data: np.ndarray, meta) -> None:  # meta: a ctypes struct
                block = np.array(data, dtype=np.float32).reshape(data.shape[0], -1)
                rows[sink].append(block)
                # meta describes the block's first frame; frames follow every `period` seconds
                start = meta.time + 0.5 * meta.lengthSec
                times[sink].append(start + meta.period * np.arange(block.shape[0]))

            return callback

        with self._lock:
            if self._smile is None:
                self._open()
            smile = self._smile
            try:
                # callbacks must be registered again after every reset. opensmile's wrapper keeps every
                # callback ever registered (so ctypes does not free one in use), and with it each past clip's
                # rows: drop the previous clip's, which the new registration replaces, or memory grows by
                # ~0.5 MB per clip (a long timeline: hundreds of MB)
                smile._callbacks.clear()
                for sink in self._sinks:
                    smile.external_sink_set_callback_ex(sink, collector(sink))
                smile.external_audio_source_write_data("extsource", pcm.tobytes())
                smile.external_audio_source_set_eoi("extsource")
                smile.run()
                smile.reset()
            except Exception:
                self.close()  # a failed run leaves the instance in an unknown state: start afresh next time
                raise

        def stream(sink: str) -> Stream:
            values = np.vstack(rows[sink]) if rows[sink] else np.zeros((0, self.dims[sink]), np.float32)
            stamps = np.concatenate(times[sink]) if times[sink] else np.zeros(0)
            return Stream(values, stamps, f"{self.feature_set}:{sink}")

        if not rows["avefunc"]:
            raise ClipTooShort(f"openSMILE {self.feature_set} produced no functionals for this clip")
        return SmileResult(
            lld=stream("avelld"),
            lld_de=stream("avellde") if self.has_deltas else None,
            func=rows["avefunc"][-1][-1],
        )


_RUNNERS: dict[tuple[str, int, int], SmileRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(feature_set: str, sample_rate: int) -> SmileRunner:
    """The process's openSMILE instance for (set, rate), created on first use (forked workers make their
    own)."""
    key = (canonical_set(feature_set), int(sample_rate), os.getpid())
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = SmileRunner(feature_set, sample_rate)
        return runner


def functionals(audio: np.ndarray, sample_rate: int, feature_set: str) -> np.ndarray:
    """Clip-level functionals of one set, e.g. ``functionals(x, 16000, "IS09").shape == (384,)``."""
    return finite(get_runner(feature_set, sample_rate).run(audio).func)


@AUDIO_EXTRACTORS.register("opensmile")
class OpenSmileExtractor(AudioExtractor):
    name = "opensmile"
    config_type = OpenSmileConfig
    #: stores holding one group per openSMILE set name it after the set ("IS09", "eGeMAPSv02", ...)
    group_aliases = tuple(FEATURE_SETS)

    def __init__(self, config: OpenSmileConfig | None = None, sample_rate: int | None = None) -> None:
        super().__init__(config, sample_rate)
        self.sample_rate = sample_rate or type(self).sample_rate
        self.sets = [canonical_set(s) for s in self.config.sets]
        lld_sets = self.config.lld_sets
        self.lld_sets = self.sets if lld_sets is None else [canonical_set(s) for s in lld_sets]
        if not self.sets and not self.lld_sets:
            raise ConfigError("audio.opensmile.sets and audio.opensmile.lld_sets are both empty")
        self.deltas = self.config.lld_deltas
        self._run_sets = list(dict.fromkeys(self.sets + self.lld_sets))

    def _runner(self, name: str) -> SmileRunner:
        return get_runner(name, self.sample_rate)

    def lld_dims(self) -> dict[str, int]:
        out = {}
        for name in self.lld_sets:
            r = self._runner(name)
            out[name] = r.dims["avelld"] + (r.dims["avellde"] if self.deltas and r.has_deltas else 0)
        return out

    def func_dims(self) -> dict[str, int]:
        return {name: self._runner(name).dims["avefunc"] for name in self.sets}

    @property
    def seq_dim(self) -> int:
        return sum(self.lld_dims().values())

    @property
    def vec_dim(self) -> int:
        return sum(self.func_dims().values())

    def analyse(self, audio: np.ndarray) -> ExtractorOutput:
        results = {name: self._runner(name).run(audio) for name in self._run_sets}
        streams: list[Stream] = []
        for name in self.lld_sets:
            res = results[name]
            streams.append(res.lld)
            if self.deltas and res.lld_de is not None:
                streams.append(res.lld_de)
        for s in streams:
            s.values = finite(s.values)
        vec = np.concatenate([results[name].func for name in self.sets]) if self.sets else np.zeros(0)
        return ExtractorOutput(streams, finite(vec), {"sets": self.sets, "lld_sets": self.lld_sets})
