"""Settings of the audio branch (X^a): the branch's own (decoding rate, token grid, which extractors, speed views)
and one section per registered audio extractor, named after it (``audio.mfcc``, ``audio.opensmile``,
``audio.soundnet``, ``audio.whisper``). An extractor reads only its own section; a new extractor is its module in
``features/audio/`` plus its section here (``tests/test_config_schema.py`` checks that every one has one)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from avemotion.config.section import Section


class MfccConfig(Section):
    """The ``mfcc`` extractor (paper eqs. 1-4)."""

    PAPER: ClassVar[dict[str, Any]] = {"n_mels": 40, "frame_ms": 25.0, "hop_ms": 10.0}
    n_mels: int = Field(40, ge=8, description="mel filters (paper: 40)")
    frame_ms: float = Field(25.0, gt=0, description="analysis frame length (paper: 25 ms)")
    hop_ms: float = Field(10.0, gt=0, description="frame shift (paper: 10 ms)")
    n_mfcc: int = Field(13, ge=1, description="cepstral coefficients kept")
    deltas: int = Field(2, ge=0, le=2, description="0: none, 1: deltas, 2: deltas and delta-deltas")


class OpenSmileConfig(Section):
    """The ``opensmile`` extractor: functionals (clip vector) and low-level descriptors (sequence)."""

    PAPER: ClassVar[dict[str, Any]] = {"sets": ["IS09", "IS11", "IS13"]}
    sets: list[str] = Field(default_factory=lambda: ["IS09", "IS11", "IS13"],
                            description="feature sets whose functionals form the clip vector, in this order")
    lld_sets: list[str] | None = Field(
        None, description="sets whose low-level descriptors form the sequence (None: sets)")
    lld_deltas: bool = Field(True, description="add the LLD deltas (lld_de) to the sequence")


class SoundNetConfig(Section):
    """The ``soundnet`` extractor: activations of one SoundNet-8 layer (paper eq. 6)."""

    PAPER: ClassVar[dict[str, Any]] = {"enabled": True}
    enabled: bool = Field(True, description="False drops SoundNet even when listed in audio.extractors")
    layer: Literal["conv5", "conv6", "conv7"] = Field("conv7", description="layer whose activations are the rows")
    sample_rate: int = Field(22050, description="rate the clip is resampled to for the network (Hz)")


class WhisperConfig(Section):
    """The ``whisper`` extractor: Whisper tiny.en encoder states."""

    layers: list[int] = Field(
        default_factory=lambda: [2],
        description="encoder hidden states averaged into the sequence and clip vector (0: input of the first "
                    "block, k: output of block k, 4: final, after the LayerNorm); blocks above the highest listed "
                    "one are not run")
    active_db: float | None = Field(
        35.0, gt=0, description="the clip vector (mean + std) pools only the steps within this many dB of the "
                                "clip's loudest step (None: all steps)")


class AudioConfig(Section):
    """The audio branch: settings shared by its extractors, then one section per extractor."""

    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "extractors": "mfcc + opensmile + soundnet; the paper's X^a: --set \"audio.extractors=[mfcc,opensmile,"
                      "soundnet]\" (docs/method/audio.md)"}
    sample_rate: int = Field(16000, ge=8000, le=96000, description="decoding rate for MFCC/openSMILE (Hz)")
    token_rate: float = Field(10.0, gt=0, description="frames per second of the spliced X^a sequence")
    extractors: list[str] = Field(
        default_factory=lambda: ["whisper"],
        description="registered audio extractors spliced into X^a, in this order (ours: whisper; the paper's: "
                    "mfcc, opensmile, soundnet)")
    speed_views: list[float] = Field(
        default_factory=lambda: [0.9, 1.1],
        description="playback speeds of the extra versions of every clip's audio (resampled: tempo and pitch "
                    "together) whose X^a is extracted beside the plain one; validation, test and prediction "
                    "average the model's probabilities over the plain clip and these versions (test-time "
                    "augmentation), training uses the plain clips. [] : none (one audio pass per clip). Each "
                    "version costs one more pass of the audio branch")
    mfcc: MfccConfig = Field(default_factory=MfccConfig)
    opensmile: OpenSmileConfig = Field(default_factory=OpenSmileConfig)
    soundnet: SoundNetConfig = Field(default_factory=SoundNetConfig)
    whisper: WhisperConfig = Field(default_factory=WhisperConfig)

    @field_validator("speed_views")
    @classmethod
    def _check_speeds(cls, value: list[float]) -> list[float]:
        for s in value:
            if not 0.5 <= s <= 2.0 or s == 1.0:
                raise ValueError(f"speed {s}: each speed view must lie in [0.5, 2.0] and differ from 1.0 (the "
                                 "plain clip is always used)")
        if len(set(value)) != len(value):
            raise ValueError("speed views must differ from each other")
        return [float(s) for s in value]
