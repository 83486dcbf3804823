"""Video features: face finding, landmarks, expression CNN, motion -> per-frame x_t.

Importing this package registers the "face" extractor in :data:`avemotion.features.VIDEO_EXTRACTORS`.
"""

from avemotion.features.video.branch import VideoBranch, VideoFeatures
from avemotion.features.video.extractor import FaceFeatureExtractor

__all__ = ["FaceFeatureExtractor", "VideoBranch", "VideoFeatures"]
