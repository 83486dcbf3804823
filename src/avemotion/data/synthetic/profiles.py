"""Per-emotion audio (prosody/voice quality) and visual (facial action) parameters of the synthetic corpus.

The audio profiles follow the vocal-affect literature (Scherer 2003, "Vocal communication of emotion";
Juslin & Laukka 2003, "Communication of emotions in vocal expression and music performance"; Banse &
Scherer 1996): high-arousal emotions (anger, joy, fear, surprise) raise mean pitch, loudness and tempo;
sadness lowers pitch, pitch range, loudness and tempo and adds breathiness; fear and anxiety add jitter and
a narrow, high pitch; anger has a bright (high-effort) spectrum and a falling, emphatic contour; surprise a
wide range and a rising contour. The visual profiles follow the facial action units of Ekman & Friesen's
FACS prototypes (e.g. surprise AU1+2+5+26, fear AU1+2+4+5+20, sadness AU1+4+15, anger AU4+5+7+23,
disgust AU9+10+15, joy AU6+12).

Overlap is deliberate: classes form *pairs that are close in one modality and far apart in the other*
(see ``AUDIO_GROUPS`` / ``VIDEO_GROUPS``), every parameter gets per-clip noise and a random intensity, and
each synthetic speaker has its own habits, so neither modality alone separates all classes while the two
together do.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from avemotion.labels import PAPER9


@dataclass(frozen=True)
class AudioProfile:
    """Deviations from the speaker's neutral voice at full intensity (intensity 1)."""

    pitch_st: float  # mean pitch shift, semitones
    range_st: float  # pitch-accent size, semitones
    slope_st: float  # overall contour slope over the utterance, semitones (negative: falling)
    tempo: float  # syllables per second
    level_db: float  # loudness, dB re the speaker's neutral level
    level_var_db: float  # syllable-to-syllable loudness variation (SD, dB)
    jitter: float  # period-to-period pitch perturbation (relative SD)
    shimmer: float  # period-to-period amplitude perturbation (relative SD)
    breathiness: float  # aspiration-noise share in the source, 0..1
    effort: float  # vocal effort / spectral brightness, 0 (dark) .. 1 (bright, pressed)
    formant: float  # formant scaling (lip spreading in a smile raises formants)
    tremor: float  # slow pitch tremor depth, semitones


#: facial actions, each a smooth warp of a facial region (see face.py); signed values are allowed
ACTIONS = (
    "brow_raise",  # AU1+2: whole brows up
    "inner_brow",  # AU1: inner brow corners up (oblique, "worried" brows)
    "brow_lower",  # AU4: brows down and together (furrow)
    "lid_raise",  # AU5: upper lids up, eyes wide
    "cheek",  # AU6/7: cheeks and lower lids up (squint)
    "smile",  # AU12: mouth corners up and out (negative: down and in, AU15-like)
    "depress",  # AU15: mouth corners down
    "stretch",  # AU20: lips stretched sideways
    "nose",  # AU9/10: nose wrinkle, upper lip raised
    "jaw",  # AU26: jaw drop
)


@dataclass(frozen=True)
class VisualProfile:
    actions: dict[str, float]  # apex activation of each facial action
    aperture: float  # resting mouth opening change (negative: lips pressed), added to the neutral
    head_pitch: float  # + nods down (fraction of inter-ocular distance)
    head_roll: float  # degrees of head tilt (sign randomised per clip)
    head_scale: float  # + leans towards the camera
    head_motion: float  # amount of head movement (1 = typical)
    blink_rate: float  # blinks per second


def _audio(**kw: float) -> AudioProfile:
    return AudioProfile(**kw)


# Audio "pairs" that sound alike: {joy, anger}, {fear, anxiety}, {trust, anticipation}, {sadness, disgust};
# surprise is close to joy. Numbers: see the module docstring for sources; they are deviations at intensity 1.
AUDIO: dict[str, AudioProfile] = {
    "trust": _audio(pitch_st=0.0, range_st=2.2, slope_st=-1.5, tempo=4.2, level_db=0.0, level_var_db=1.5,
                    jitter=0.006, shimmer=0.035, breathiness=0.18, effort=0.42, formant=1.02, tremor=0.0),
    "anticipation": _audio(pitch_st=0.8, range_st=2.4, slope_st=-0.5, tempo=4.5, level_db=0.8, level_var_db=1.8,
                           jitter=0.006, shimmer=0.035, breathiness=0.16, effort=0.48, formant=1.0, tremor=0.0),
    "joy": _audio(pitch_st=4.0, range_st=4.2, slope_st=-1.0, tempo=5.0, level_db=4.0, level_var_db=3.0,
                  jitter=0.008, shimmer=0.04, breathiness=0.12, effort=0.66, formant=1.05, tremor=0.0),
    "anger": _audio(pitch_st=3.6, range_st=4.0, slope_st=-2.5, tempo=5.1, level_db=5.0, level_var_db=3.4,
                    jitter=0.011, shimmer=0.05, breathiness=0.06, effort=0.8, formant=1.0, tremor=0.0),
    "surprise": _audio(pitch_st=4.5, range_st=4.6, slope_st=3.5, tempo=4.5, level_db=3.0, level_var_db=3.0,
                       jitter=0.008, shimmer=0.04, breathiness=0.18, effort=0.6, formant=1.02, tremor=0.0),
    "fear": _audio(pitch_st=5.2, range_st=2.0, slope_st=0.5, tempo=5.7, level_db=1.5, level_var_db=2.2,
                   jitter=0.02, shimmer=0.065, breathiness=0.3, effort=0.5, formant=1.0, tremor=0.35),
    "anxiety": _audio(pitch_st=4.2, range_st=1.8, slope_st=0.0, tempo=5.4, level_db=0.5, level_var_db=2.0,
                      jitter=0.017, shimmer=0.06, breathiness=0.3, effort=0.46, formant=1.0, tremor=0.3),
    "sadness": _audio(pitch_st=-2.2, range_st=0.9, slope_st=-2.0, tempo=3.3, level_db=-5.5, level_var_db=1.0,
                      jitter=0.011, shimmer=0.06, breathiness=0.42, effort=0.18, formant=0.99, tremor=0.1),
    "disgust": _audio(pitch_st=-1.6, range_st=1.4, slope_st=-2.6, tempo=3.6, level_db=-3.5, level_var_db=1.6,
                      jitter=0.012, shimmer=0.06, breathiness=0.34, effort=0.28, formant=0.98, tremor=0.0),
}

# Video "pairs" that look alike: {surprise, fear}, {sadness, anxiety}, {anger, disgust}, {joy, trust};
# anticipation sits between trust and anxiety.
VISUAL: dict[str, VisualProfile] = {
    "trust": VisualProfile({"smile": 0.55, "cheek": 0.3, "brow_raise": 0.1}, aperture=0.15,
                           head_pitch=0.0, head_roll=2.0, head_scale=0.0, head_motion=0.8, blink_rate=0.3),
    "joy": VisualProfile({"smile": 0.8, "cheek": 0.55, "brow_raise": 0.1}, aperture=0.35,
                         head_pitch=-0.04, head_roll=3.0, head_scale=0.0, head_motion=1.2, blink_rate=0.3),
    "anticipation": VisualProfile({"brow_raise": 0.35, "lid_raise": 0.3, "smile": 0.15}, aperture=-0.15,
                                  head_pitch=0.02, head_roll=0.0, head_scale=0.05, head_motion=0.6,
                                  blink_rate=0.2),
    "surprise": VisualProfile({"brow_raise": 1.0, "lid_raise": 0.9, "jaw": 0.55}, aperture=0.3,
                              head_pitch=-0.08, head_roll=0.0, head_scale=-0.03, head_motion=0.8, blink_rate=0.1),
    "fear": VisualProfile({"brow_raise": 0.8, "lid_raise": 0.9, "inner_brow": 0.4, "brow_lower": 0.15,
                           "stretch": 0.6, "jaw": 0.35}, aperture=0.15,
                          head_pitch=-0.04, head_roll=0.0, head_scale=-0.05, head_motion=1.0, blink_rate=0.5),
    "anxiety": VisualProfile({"inner_brow": 0.85, "brow_lower": 0.35, "depress": 0.5, "stretch": 0.2},
                             aperture=-0.25, head_pitch=0.05, head_roll=0.0, head_scale=0.0, head_motion=1.1,
                             blink_rate=0.7),
    "sadness": VisualProfile({"inner_brow": 0.9, "brow_lower": 0.25, "depress": 0.8, "cheek": 0.0},
                             aperture=-0.3, head_pitch=0.12, head_roll=0.0, head_scale=0.0, head_motion=0.5,
                             blink_rate=0.35),
    "anger": VisualProfile({"brow_lower": 1.0, "lid_raise": 0.35, "cheek": 0.35, "depress": 0.2, "nose": 0.35},
                           aperture=-0.35, head_pitch=0.05, head_roll=0.0, head_scale=0.05, head_motion=1.2,
                           blink_rate=0.2),
    "disgust": VisualProfile({"brow_lower": 0.7, "cheek": 0.45, "nose": 0.85, "depress": 0.45},
                             aperture=-0.1, head_pitch=0.0, head_roll=-3.0, head_scale=-0.04, head_motion=0.8,
                             blink_rate=0.3),
}

AUDIO_GROUPS = (("joy", "anger", "surprise"), ("fear", "anxiety"), ("trust", "anticipation"),
                ("sadness", "disgust"))
VIDEO_GROUPS = (("surprise", "fear"), ("sadness", "anxiety"), ("anger", "disgust"),
                ("joy", "trust", "anticipation"))

#: per-clip noise added to each audio parameter at full intensity (SD, same units as AudioProfile)
AUDIO_NOISE = AudioProfile(pitch_st=0.8, range_st=0.6, slope_st=1.0, tempo=0.3, level_db=1.0, level_var_db=0.4,
                           jitter=0.002, shimmer=0.008, breathiness=0.05, effort=0.06, formant=0.01, tremor=0.06)
#: per-clip noise (SD) of each facial action's apex activation
ACTION_NOISE = 0.13

LABEL_SETS: dict[str, tuple[str, ...]] = {"paper9": PAPER9.labels}


def label_names(label_set: str) -> tuple[str, ...]:
    try:
        return LABEL_SETS[label_set]
    except KeyError:
        raise KeyError(f"no synthetic profiles for label set {label_set!r}; known: {sorted(LABEL_SETS)}") from None


def sample_audio_profile(label: str, intensity: float, rng: np.random.Generator) -> AudioProfile:
    """The clip's audio deviations: the emotion's profile scaled by ``intensity`` plus per-clip noise."""
    base = AUDIO[label]
    values = {}
    for f in fields(AudioProfile):
        mean = getattr(base, f.name)
        sd = getattr(AUDIO_NOISE, f.name)
        if f.name in ("tempo", "formant", "jitter", "shimmer", "breathiness", "effort"):
            # absolute quantities: interpolate from the neutral voice (trust) towards the emotion
            neutral = getattr(AUDIO["trust"], f.name)
            value = neutral + intensity * (mean - neutral) + rng.normal(0.0, sd)
        else:
            value = intensity * mean + rng.normal(0.0, sd)
        values[f.name] = float(value)
    return AudioProfile(**values)


def sample_visual_actions(label: str, intensity: float, rng: np.random.Generator) -> dict[str, float]:
    """Apex activation of every facial action for one clip: profile * intensity + noise (also on the
    actions the emotion does not use, so that stray movements blur the classes)."""
    prof = VISUAL[label].actions
    out = {}
    for name in ACTIONS:
        value = intensity * prof.get(name, 0.0) + rng.normal(0.0, ACTION_NOISE)
        out[name] = float(value if name == "smile" else max(value, -0.3))
    return out
