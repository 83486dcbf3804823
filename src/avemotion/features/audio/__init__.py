"""Audio features X^a: MFCC, openSMILE functionals/LLDs, SoundNet-8, and their splice.

Importing this package registers the extractors in :data:`avemotion.features.AUDIO_EXTRACTORS`
("mfcc", "opensmile", "soundnet", "whisper"); :class:`AudioBranch` runs the configured ones and splices them.
"""

from avemotion.features.audio import mfcc, smile, soundnet, whisper  # noqa: F401  (registration on import)
from avemotion.features.audio.branch import AudioBranch, AudioFeatures
from avemotion.features.audio.common import MIN_DURATION, AudioExtractor, ExtractorOutput, Stream

__all__ = ["AudioBranch", "AudioFeatures", "AudioExtractor", "ExtractorOutput", "Stream", "MIN_DURATION"]
