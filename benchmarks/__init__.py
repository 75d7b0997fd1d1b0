"""On-demand benchmarks (never part of the tests): ``python -m benchmarks.NAME`` prints a table."""
