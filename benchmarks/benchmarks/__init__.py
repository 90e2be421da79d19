"""asv benchmark suite for segpy (see ../README.md)."""
