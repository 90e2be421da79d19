/* The OS layer shared by segpy's allocators: page size, anonymous mappings,
 * transparent-huge-page advice and aligned libc allocation.
 *
 * Every function is a thin wrapper so that the allocators count and (in
 * tests) fail the calls in one place: see map_pages and unmap_pages in
 * _alloc.pxd.  Private to segpy's own modules (declared
 * in _os.pxd): no public .pxd includes this header.
 */
#ifndef SEGPY_OS_H
#define SEGPY_OS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Page size, asked of the OS once. */
static size_t segpy_page_size(void) {
    static size_t page = 0;
    if (page == 0) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

/* Map nbytes (a page multiple) of private anonymous memory; NULL on failure. */
static void *segpy_os_map(size_t nbytes) {
    void *p = mmap(NULL, nbytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int segpy_os_unmap(void *p, size_t nbytes) {
    return munmap(p, nbytes);
}

/* Ask for transparent huge pages on [p, p+nbytes); failure is harmless
   (THP disabled, old kernel), so callers ignore the result. */
static int segpy_os_hugepage(void *p, size_t nbytes) {
#ifdef MADV_HUGEPAGE
    return madvise(p, nbytes, MADV_HUGEPAGE);
#else
    (void)p; (void)nbytes; return -1;
#endif
}

static void *segpy_aligned_malloc(size_t nbytes, size_t align) {
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, nbytes ? nbytes : 1) != 0) return NULL;
    return p;
}

static int segpy_errno(void) { return errno; }

#endif
