"""A small source-filter speech synthesizer (numpy/scipy) for the synthetic corpus.

Source: a Rosenberg glottal-flow pulse train (its derivative, i.e. flow with lip radiation) driven by a pitch
contour with declination/rise, pitch accents, slow drift and tremor; period-to-period jitter and shimmer;
aspiration noise gated by the glottal cycle (breathiness); vocal effort as spectral tilt and open quotient.
Filter: a cascade of five second-order formant resonators whose frequencies glide between vowel targets
(Peterson & Barney 1952 averages, scaled per speaker). Rhythm: syllables (consonant onset + vowel nucleus)
at the emotion's tempo, with pauses; consonants are noise bursts (fricatives: band-passed noise; plosives:
closure + short broadband burst) added after the vocal tract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

#: vowel formant targets F1-F3 (Hz, adult male) and the jaw opening of each vowel (0..1, drives the lips)
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0, 1.0),
    "ae": (660.0, 1720.0, 2410.0, 0.85),
    "e": (530.0, 1840.0, 2480.0, 0.6),
    "i": (270.0, 2290.0, 3010.0, 0.3),
    "o": (570.0, 840.0, 2410.0, 0.65),
    "u": (300.0, 870.0, 2240.0, 0.3),
    "schwa": (500.0, 1500.0, 2500.0, 0.5),
}
_VOWEL_NAMES = tuple(VOWELS)
_CONSONANTS = ("s", "sh", "f", "p", "t", "k", "m", "n", "l")


@dataclass(frozen=True)
class VoiceParams:
    """Everything the synthesizer needs for one utterance (absolute values)."""

    f0_hz: float  # mean pitch
    range_st: float  # pitch-accent size, semitones
    slope_st: float  # contour slope over the utterance, semitones
    tempo: float  # syllables per second
    level_db: float  # loudness, dB re an RMS of 0.05 (about -26 dBFS)
    level_var_db: float
    jitter: float
    shimmer: float
    breathiness: float
    effort: float
    formant_scale: float
    tremor_st: float = 0.0
    tremor_hz: float = 5.5
    pause_prob: float = 0.08
    noise_db: float = -62.0  # room noise, dBFS RMS


@dataclass
class Syllable:
    onset: float  # consonant start (s)
    nucleus: float  # vowel start (s)
    end: float  # vowel end (s)
    vowel: str
    consonant: str
    accent: float  # pitch-accent height in units of range_st (0 = unaccented)
    gain_db: float


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    syllables: list[Syllable]
    f0: np.ndarray  # pitch track at the control rate (Hz, 0 where unvoiced)
    control_rate: float


CONTROL_RATE = 200.0  # Hz: pitch, formant and envelope tracks


def plan_syllables(params: VoiceParams, seconds: float, rng: np.random.Generator) -> list[Syllable]:
    """Syllable timing: consonant onset + vowel nucleus at ``params.tempo`` with jittered durations and pauses."""
    syllables: list[Syllable] = []
    t = rng.uniform(0.06, 0.25)
    end_limit = seconds - rng.uniform(0.08, 0.2)
    mean_dur = 1.0 / max(params.tempo, 1.5)
    while True:
        dur = mean_dur * float(np.exp(rng.normal(0.0, 0.25)))
        accent = float(rng.uniform(0.6, 1.3)) if rng.random() < 0.3 else 0.0
        if accent:
            dur *= 1.2
        if t + dur > end_limit:
            break
        consonant = str(rng.choice(_CONSONANTS))
        c_dur = dur * rng.uniform(0.22, 0.38)
        syllables.append(Syllable(onset=t, nucleus=t + c_dur, end=t + dur, vowel=str(rng.choice(_VOWEL_NAMES)),
                                  consonant=consonant, accent=accent,
                                  gain_db=float(rng.normal(0.0, params.level_var_db)) + 3.0 * (accent > 0)))
        t += dur
        if rng.random() < params.pause_prob:
            t += rng.uniform(0.12, 0.3)
    if not syllables:  # very short clip: one syllable over the middle
        a, b = 0.2 * seconds, 0.8 * seconds
        syllables.append(Syllable(a, a + 0.3 * (b - a), b, "a", "m", 1.0, 0.0))
    return syllables


def pitch_track(params: VoiceParams, syllables: list[Syllable], seconds: float,
                rng: np.random.Generator) -> np.ndarray:
    """f0 (Hz) at CONTROL_RATE: declination/rise + accents + drift + tremor."""
    n = int(np.ceil(seconds * CONTROL_RATE)) + 1
    t = np.arange(n) / CONTROL_RATE
    first, last = syllables[0].onset, syllables[-1].end
    rel = np.clip((t - first) / max(last - first, 1e-3), 0.0, 1.0)
    st = params.slope_st * (rel - 0.5)
    if params.slope_st > 0:  # rising contours rise mostly at the end (question-like)
        st = params.slope_st * (rel**2 - 0.33)
    for syl in syllables:
        if syl.accent:
            centre = 0.5 * (syl.nucleus + syl.end)
            width = 0.45 * (syl.end - syl.onset)
            st += syl.accent * params.range_st * np.exp(-0.5 * ((t - centre) / width) ** 2)
    # slow drift (smoothed noise) and small per-syllable steps
    drift = signal.lfilter([0.02], [1, -0.98], rng.normal(0.0, 1.0, n))
    drift *= 0.35 * params.range_st / (np.std(drift) + 1e-9)
    st += drift
    st += params.tremor_st * np.sin(2 * np.pi * params.tremor_hz * t + rng.uniform(0, 2 * np.pi))
    return params.f0_hz * 2.0 ** (st / 12.0)


def _voicing_and_gain(syllables: list[Syllable], n: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample voicing gate (0..1, smooth edges) and linear syllable gain."""
    voicing = np.zeros(n)
    gain = np.zeros(n)
    ramp = int(0.015 * sr)
    for syl in syllables:
        a = int(syl.nucleus * sr)
        b = min(int(syl.end * sr), n)
        # voiced consonants (nasals, l) are voiced through their onset at low amplitude
        if syl.consonant in ("m", "n", "l"):
            c = int(syl.onset * sr)
            voicing[c:a] = np.maximum(voicing[c:a], 0.35)
        if b - a < 2 * ramp + 2:
            continue
        env = np.ones(b - a)
        env[:ramp] = np.sin(np.linspace(0, np.pi / 2, ramp)) ** 2
        # the vowel decays over its last third
        tail = (b - a) // 3
        env[-tail:] *= np.linspace(1.0, 0.0, tail) ** 1.5
        voicing[a:b] = np.maximum(voicing[a:b], env)
        start = int(syl.onset * sr)
        gain[start:b] = 10 ** (syl.gain_db / 20)
    return voicing, gain


def glottal_source(f0_ctrl: np.ndarray, n: int, sr: int, params: VoiceParams,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg flow-derivative pulse train with jitter and shimmer, and the glottal flow (for noise gating)."""
    t_ctrl = np.arange(f0_ctrl.size) / CONTROL_RATE
    starts: list[float] = []
    periods: list[float] = []
    amps: list[float] = []
    t = 0.0
    dur = n / sr
    while t < dur:
        f0 = float(np.interp(t, t_ctrl, f0_ctrl))
        period = (1.0 / f0) * (1.0 + params.jitter * rng.standard_normal())
        period = max(period, 0.3 / f0)
        starts.append(t)
        periods.append(period)
        amps.append(max(0.2, 1.0 + params.shimmer * rng.standard_normal()))
        t += period
    starts_a = np.asarray(starts)
    periods_a = np.asarray(periods)
    amps_a = np.asarray(amps)
    ts = np.arange(n) / sr
    k = np.clip(np.searchsorted(starts_a, ts, side="right") - 1, 0, starts_a.size - 1)
    frac = (ts - starts_a[k]) / periods_a[k]
    # open quotient: pressed (high effort) voices close faster; breathy voices stay open longer
    open_q = float(np.clip(0.62 - 0.2 * params.effort + 0.2 * params.breathiness, 0.35, 0.85))
    tp = 0.68 * open_q
    tn = open_q - tp
    flow = np.where(frac < tp, 0.5 * (1 - np.cos(np.pi * frac / tp)),
                    np.where(frac < tp + tn, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0))
    flow *= amps_a[k]
    deriv = np.diff(flow, prepend=0.0) * (sr / 200.0)
    return deriv, flow


def _resonator_sos(freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bws / sr)
    theta = 2 * np.pi * freqs / sr
    a1 = -2 * r * np.cos(theta)
    a2 = r**2
    sos = np.zeros((freqs.size, 6))
    sos[:, 0] = 1 + a1 + a2  # unity gain at DC
    sos[:, 3] = 1.0
    sos[:, 4] = a1
    sos[:, 5] = a2
    return sos


def vocal_tract(source: np.ndarray, syllables: list[Syllable], sr: int, params: VoiceParams,
                rng: np.random.Generator) -> np.ndarray:
    """Cascade of 5 formant resonators, targets gliding between the vowels, updated every 5 ms."""
    n = source.size
    # formant targets at vowel centres, interpolated in between (coarticulation)
    centres = [0.0]
    targets = [np.array(VOWELS["schwa"][:3])]
    for syl in syllables:
        f = np.array(VOWELS[syl.vowel][:3]) * np.exp(rng.normal(0.0, 0.04, 3))
        centres += [syl.nucleus + 0.2 * (syl.end - syl.nucleus), syl.nucleus + 0.7 * (syl.end - syl.nucleus)]
        targets += [f, f]
    centres.append(n / sr)
    targets.append(np.array(VOWELS["schwa"][:3]))
    centres_a = np.asarray(centres)
    targets_a = np.stack(targets)
    block = max(int(0.005 * sr), 1)
    nblocks = int(np.ceil(n / block))
    tb = (np.arange(nblocks) + 0.5) * block / sr
    f123 = np.stack([np.interp(tb, centres_a, targets_a[:, j]) for j in range(3)], axis=1)
    f123 *= params.formant_scale
    nyq_safe = 0.45 * sr
    f4 = np.full(nblocks, 3500.0 * params.formant_scale)
    f5 = np.full(nblocks, 4500.0 * params.formant_scale)
    freqs = np.minimum(np.column_stack([f123, f4, f5]), nyq_safe)
    bws = np.array([80.0, 100.0, 140.0, 220.0, 300.0]) * (1.0 + 0.8 * params.breathiness)
    out = np.empty(n)
    zi = np.zeros((5, 2))
    for b in range(nblocks):
        sos = _resonator_sos(freqs[b], bws, sr)
        seg = source[b * block:(b + 1) * block]
        out[b * block:b * block + seg.size], zi = signal.sosfilt(sos, seg, zi=zi)
    return out


def consonant_noise(syllables: list[Syllable], n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Fricative and plosive noise bursts at the syllable onsets (added after the vocal tract)."""
    out = np.zeros(n)
    nyq = sr / 2
    bands = {"s": (4000, 7500, 0.30), "sh": (2000, 4500, 0.35), "f": (1200, 7000, 0.12),
             "p": (500, 4000, 0.5), "t": (2500, 7000, 0.5), "k": (1500, 3500, 0.5)}
    for syl in syllables:
        if syl.consonant not in bands:
            continue
        lo, hi, amp = bands[syl.consonant]
        hi = min(hi, 0.95 * nyq)
        a = int(syl.onset * sr)
        b = int(syl.nucleus * sr)
        if syl.consonant in ("p", "t", "k"):  # closure (silence), then a 10-25 ms burst
            burst = int(rng.uniform(0.01, 0.025) * sr)
            a = max(a, b - burst)
        length = b - a
        if length < 8:
            continue
        sos = signal.butter(2, [lo / nyq, hi / nyq], btype="band", output="sos")
        noise = signal.sosfilt(sos, rng.standard_normal(length + 64))[64:]
        env = np.hanning(length) ** 0.5 if syl.consonant not in ("p", "t", "k") else np.exp(
            -np.arange(length) / (0.3 * length))
        out[a:b] += amp * noise * env
    return out


def synthesize(params: VoiceParams, seconds: float, sample_rate: int, rng: np.random.Generator) -> Utterance:
    """One utterance of ``seconds`` at ``sample_rate`` (float32 in [-1, 1])."""
    sr = sample_rate
    n = int(round(seconds * sr))
    syllables = plan_syllables(params, seconds, rng)
    f0 = pitch_track(params, syllables, seconds, rng)
    deriv, flow = glottal_source(f0, n, sr, params, rng)
    voicing, gain = _voicing_and_gain(syllables, n, sr)
    # vocal effort: bright (flat) spectrum at high effort, dark (low-passed) at low effort
    dark = signal.lfilter([0.12], [1, -0.88], deriv)
    effort = float(np.clip(params.effort, 0.0, 1.0))
    voiced = (effort * deriv + (1 - effort) * 2.5 * dark)
    voiced /= np.sqrt(np.mean(voiced**2)) + 1e-12
    # aspiration noise, stronger while the glottis is open
    hp = signal.butter(2, 1200 / (sr / 2), btype="high", output="sos")
    asp = signal.sosfilt(hp, rng.standard_normal(n)) * (0.4 + flow / (flow.max() + 1e-9))
    asp /= np.sqrt(np.mean(asp**2)) + 1e-12
    breath = float(np.clip(params.breathiness, 0.0, 0.9))
    source = ((1 - breath) * voiced + 1.6 * breath * asp) * voicing * gain
    speech = vocal_tract(source, syllables, sr, params, rng)
    speech /= np.sqrt(np.mean(speech[voicing > 0.5] ** 2)) + 1e-12 if np.any(voicing > 0.5) else 1.0
    speech += consonant_noise(syllables, n, sr, rng) * gain
    # loudness: RMS of the voiced part = 0.05 * 10^(level/20); room noise at a fixed low level
    voiced_rms = np.sqrt(np.mean(speech[voicing > 0.5] ** 2)) if np.any(voicing > 0.5) else 1.0
    speech *= 0.05 * 10 ** (params.level_db / 20) / (voiced_rms + 1e-12)
    speech += 10 ** (params.noise_db / 20) * rng.standard_normal(n)
    peak = np.max(np.abs(speech))
    if peak > 0.9:  # soft limiter, as a recording chain would
        speech = 0.9 * np.tanh(speech / 0.9)
    f0_out = f0.copy()
    t_ctrl = np.arange(f0.size) / CONTROL_RATE
    f0_out[np.interp(t_ctrl, np.arange(n) / sr, voicing) < 0.5] = 0.0
    return Utterance(speech.astype(np.float32), sr, syllables, f0_out, CONTROL_RATE)


def mouth_opening(utt: Utterance, fps: float, n_frames: int) -> np.ndarray:
    """Per-video-frame lip opening in [0, 1]: the voice's loudness envelope (RMS over the frame, relative to
    the clip's loudest frame) weighted by the jaw opening of the vowel being spoken."""
    sr = utt.sample_rate
    audio = utt.audio.astype(np.float64)
    half = int(sr / fps)
    openness = np.zeros(n_frames)
    vowel_open = np.full(n_frames, 0.0)
    for i in range(n_frames):
        c = int(i / fps * sr)
        seg = audio[max(c - half // 2, 0): c + half // 2 + 1]
        openness[i] = np.sqrt(np.mean(seg**2)) if seg.size else 0.0
        t = i / fps
        for syl in utt.syllables:
            if syl.onset - 0.04 <= t <= syl.end:
                vowel_open[i] = VOWELS[syl.vowel][3] if t >= syl.nucleus - 0.03 else 0.25
                break
    env = openness / (openness.max() + 1e-9)
    env = np.clip((env - 0.05) / 0.95, 0.0, 1.0) ** 0.6
    return env * (0.35 + 0.65 * vowel_open)
