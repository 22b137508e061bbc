"""Speed and memory benchmarks of the arseg stages, each against a peer: `python -m benchmarks`."""
