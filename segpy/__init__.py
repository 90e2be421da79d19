"""segpy: a growable typed list of fixed-size numpy elements in segments that never move.

The main class is :class:`SegmentedList`.  Its segments come from an allocator
(a process-wide :class:`Heap` by default; :func:`allocator` and the
``allocator=`` argument choose another) through a small C interface that
Cython and C code can use too.
"""

try:
    from segpy.alloc import (
        Allocator,
        AllocatorError,
        Block,
        SystemAllocator,
        allocator,
        get_allocator,
    )
    from segpy.buffer import BufferAllocator
    from segpy.bump import BumpAllocator
    from segpy.file import FileAllocator
    from segpy.heap import Heap
    from segpy.seglist import SegmentedList
except ImportError as exc:  # pragma: no cover - only hit from a source checkout
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_here, "seglist.pyx")):
        raise ImportError(
            "segpy is being imported from its source directory "
            f"({_here}), which holds no compiled modules. Run from another "
            "directory, use 'python -P', or run the installed 'segpy-demo' script."
        ) from exc
    raise

# The process-wide default allocator is a Heap: it caches empty regions, so a
# list created after another died reuses mapped, already-faulted memory
# (docs/allocators.md has the measurements behind this choice).
from segpy import alloc as _alloc

_alloc._set_default(Heap())
del _alloc

# A SegmentedList has every method of collections.abc.MutableSequence but is
# deliberately not registered as one, like numpy.ndarray and pyarrow's
# arrays: consumers such as polars treat a registered Sequence as a Python
# collection and convert it element by element before they look for the
# Arrow stream, which turns a zero-copy hand-off into a copy
# (docs/sequence.md, "Not a registered MutableSequence").

__all__ = [
    "Allocator",
    "AllocatorError",
    "Block",
    "BufferAllocator",
    "BumpAllocator",
    "FileAllocator",
    "Heap",
    "SegmentedList",
    "SystemAllocator",
    "allocator",
    "get_allocator",
]
__version__ = "0.1.0.dev0"
