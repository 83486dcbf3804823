"""Built-in synthetic audio-video emotion corpus."""
