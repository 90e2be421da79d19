# cython: language_level=3
"""The file allocator, from C: one list's segments, each mapped from one file.

The file is opened, created and checked by ``segpy.FileAllocator`` (or
``SegmentedList.open``), which is how file-backed lists are made; C code
reaches one through ``lst.allocator``.  The allocator's state is private
(see docs/file-format.md for the file's layout).
"""

from segpy.alloc cimport segpy_allocator_t


cdef segpy_allocator_t* segpy_file_create(
    int fd, int writable, size_t file_bytes, const unsigned char* slot,
    size_t max_bytes) noexcept nogil
