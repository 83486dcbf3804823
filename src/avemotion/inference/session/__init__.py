"""Session analysis of long recordings: who speaks when, and each speaker's emotions over time.

The pipeline (:func:`avemotion.inference.session.pipeline.analyze_session`): voice activity (:mod:`.vad`,
silero-vad) -> speaker diarization (:mod:`.diarize`, resemblyzer embeddings on short windows, clustering that
finds the number of speakers) -> segments (:mod:`.segments`: speaker turns split into windows of a few
seconds, the pauses between them) -> emotion per speech segment with the chosen model -> valence and arousal
(:mod:`.affect`) -> the session's JSON and HTML report (:mod:`.result`, :mod:`.report`).
The voice-activity and speaker models come with the ``[session]`` extra (``pip install 'avemotion[session]'``).
"""
