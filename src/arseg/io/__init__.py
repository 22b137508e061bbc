"""Reading and writing files: atomic writes (io.atomic) and audio decoding and WAV encoding (io.audio)."""
