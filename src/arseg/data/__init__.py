"""The data a model learns from and is tested on: corpora (corpus/, sounddescs/), mixtures and
their events, queries, and the long held-out mixtures of the showcase."""
