# cython: language_level=3
"""The bump arena allocator, from C: allocation bumps a pointer, memory comes
back all at once (``BumpAllocator.reset``, or when the allocator is destroyed).

Usage without the GIL::

    from segpy.alloc cimport segpy_allocator_t, segpy_allocator_destroy
    from segpy.bump cimport segpy_bump_create

    cdef segpy_allocator_t* a = segpy_bump_create(SIZE_MAX, 4096, 0)
    ...   # build lists on a; destroy them
    segpy_allocator_destroy(a)    # unmaps every arena block

The arena's state is private (see docs/alloc-bump.md for its layout).
"""

from segpy.alloc cimport segpy_allocator_t


cdef segpy_allocator_t* segpy_bump_create(size_t max_bytes, size_t first_block,
                                          int debug) noexcept nogil
