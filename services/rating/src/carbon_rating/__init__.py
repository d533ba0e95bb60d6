"""Rating: pluggable regional schemes, benchmarks, national scale, government config."""
