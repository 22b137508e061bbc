"""Reading and writing files: atomic writes (io.atomic), audio decoding and WAV encoding
(io.audio), file digests (io.digest), optional rule inputs (io.optional_input) and a pinned
file out of a wheel pip fetches (io.wheel_fetch)."""
