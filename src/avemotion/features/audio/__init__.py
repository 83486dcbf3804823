"""Audio features X^a: MFCC, openSMILE functionals/LLDs, SoundNet-8, and their splice.

Importing this package registers the extractors in :data:`avemotion.features.AUDIO_EXTRACTORS`
("mfcc", "opensmile", "soundnet", "whisper"); :class:`AudioBranch` runs the configured ones and splices them.
"""

from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio import mfcc, smile, soundnet, whisper  # noqa: F401  (registration on import)
from avemotion.features.audio.branch import AudioBranch, AudioFeatures
from avemotion.features.audio.common import MIN_DURATION, AudioExtractor, ExtractorOutput, Stream

__all__ = ["AudioBranch", "AudioFeatures", "AudioExtractor", "ExtractorOutput", "Stream", "MIN_DURATION",
           "declared_groups"]


def declared_groups() -> dict[str, str]:
    """Lower-case feature-group name -> the registered audio extractor that declares it
    (:meth:`AudioExtractor.feature_groups`), e.g. ``{"mfcc": "mfcc", "is09": "opensmile", ...}``."""
    owners: dict[str, str] = {}
    for name in AUDIO_EXTRACTORS:
        for group in AUDIO_EXTRACTORS.get(name).feature_groups():
            owners.setdefault(group.lower(), name)
    return owners
