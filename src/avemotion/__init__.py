"""avemotion: audio-video (bimodal) emotion recognition.

Pipeline stages live in sub-packages named after them:
``media`` (decoding) -> ``features.audio`` / ``features.video`` -> ``data`` (corpora, splits, feature store)
-> ``models`` (the bimodal method and baselines) -> ``training`` (training and evaluation)
-> ``inference`` (prediction on new files) ; ``cli`` ties them to the ``avemotion`` command.
"""

__version__ = "0.1.0"
