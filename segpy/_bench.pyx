# cython: language_level=3
"""C-level allocator benchmarks (placeholder)."""
