"""Performance benchmarks (``efa bench``): figures printed with their spread and targets."""
