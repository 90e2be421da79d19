# cython: language_level=3
"""The OS layer (``segpy_os.h``), for segpy's own allocator modules only.

Private: a consumer never includes ``segpy_os.h``.  The allocators reach
the OS through the counted wrappers in ``segpy/_alloc.pxd``
(``segpy_common_map`` and ``segpy_common_unmap``), which count every call
and honour the failure-injection test hook; only the benchmarks call these
directly.
"""


cdef extern from "segpy_os.h":
    size_t segpy_page_size() noexcept nogil
    void* segpy_os_map(size_t nbytes) noexcept nogil
    int segpy_os_unmap(void* p, size_t nbytes) noexcept nogil
    int segpy_os_hugepage(void* p, size_t nbytes) noexcept nogil
    void* segpy_aligned_malloc(size_t nbytes, size_t align) noexcept nogil
    int segpy_errno() noexcept nogil
    int segpy_os_fallocate(int fd, size_t off, size_t nbytes) noexcept nogil
    void* segpy_os_map_file(int fd, size_t off, size_t nbytes, int writable) noexcept nogil
    int segpy_os_sync_mapping(void* p, size_t nbytes) noexcept nogil
    int segpy_os_pwrite_all(int fd, const void* buf, size_t n, size_t off) noexcept nogil
    int segpy_os_datasync(int fd) noexcept nogil
    int segpy_os_close(int fd) noexcept nogil
