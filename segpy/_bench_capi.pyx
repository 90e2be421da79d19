# cython: language_level=3
"""C-level benchmarks of the cimportable API (placeholder, filled below)."""
