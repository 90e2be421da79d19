# cython: language_level=3
"""The buffer allocator, from C: blocks carved out of one caller-provided buffer.

Usage without the GIL::

    from segpy.alloc cimport segpy_allocator_t, segpy_allocator_destroy
    from segpy.buffer cimport segpy_buffer_create

    cdef segpy_allocator_t* a = segpy_buffer_create(base, size, SIZE_MAX, 0)
    ...   # build lists on a; destroy them
    segpy_allocator_destroy(a)    # frees the allocator's state, not the buffer
    free(base)                    # the buffer is yours

The allocator's state is private (see docs/alloc-buffer.md for its layout).
"""

from segpy.alloc cimport segpy_allocator_t


cdef segpy_allocator_t* segpy_buffer_create(char* base, size_t size, size_t max_bytes,
                                            int debug) noexcept nogil
