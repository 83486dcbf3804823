"""Typed configuration with the paper's values as defaults, each part's settings in a section of its own.

``audio`` (:mod:`.audio`: the branch's settings and one section per audio extractor), ``video`` (:mod:`.video`),
``model`` (:mod:`.model`) and ``train`` (:mod:`.train`) make up :class:`Config` (:mod:`.core`); saved configs carry
``schema_version`` and older layouts are migrated on load (:mod:`.schema`).
"""

from avemotion.config.audio import AudioConfig, MfccConfig, OpenSmileConfig, SoundNetConfig, WhisperConfig
from avemotion.config.core import Config, load_config
from avemotion.config.model import ModelConfig
from avemotion.config.schema import SCHEMA_VERSION, hash_view, migrate
from avemotion.config.section import Section
from avemotion.config.train import TrainConfig
from avemotion.config.video import FaceConfig, VideoConfig

__all__ = ["SCHEMA_VERSION", "AudioConfig", "Config", "FaceConfig", "MfccConfig", "ModelConfig", "OpenSmileConfig",
           "Section", "SoundNetConfig", "TrainConfig", "VideoConfig", "WhisperConfig", "hash_view", "load_config",
           "migrate"]
