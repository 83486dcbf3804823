"""Ports of pretrained networks with their weight loading: SoundNet-8 (``soundnet``), the Whisper tiny.en
encoder (``whisper``) and the facial-expression mini-Xception (``expression_cnn``). The extractors in
``features.audio`` and ``features.video`` use them; nothing here is registered as an extractor."""
