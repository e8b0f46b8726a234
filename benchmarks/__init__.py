"""`make bench`: figures printed as tables and written to benchmarks/results.md."""
