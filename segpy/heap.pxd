# cython: language_level=3
"""segpy's general-purpose heap, from C.

Usage without the GIL::

    from segpy.alloc cimport segpy_allocator_t, segpy_allocator_destroy
    from segpy.heap cimport segpy_heap_create

    cdef segpy_allocator_t* a = segpy_heap_create(SIZE_MAX, 4 << 20, 64 << 20, 0)
    ...   # build lists on a; destroy them
    segpy_allocator_destroy(a)    # unmaps every region

The heap's state is private (see docs/alloc-heap.md for its layout).
"""

from segpy.alloc cimport segpy_allocator_t


cdef segpy_allocator_t* segpy_heap_create(size_t max_bytes, size_t region_size,
                                          size_t cache_bytes, int debug) noexcept nogil
