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

/* -- Files: the file allocator's calls (segpy/file.pyx) ------------------ */

#include <fcntl.h>

/* Reserve [off, off+nbytes) of the file's blocks (and grow its size to
   cover it), so that a later store through a mapping cannot hit a full disk
   (which would be SIGBUS, not an error).  Returns 0 or an errno value. */
static int segpy_os_fallocate(int fd, size_t off, size_t nbytes) {
    return posix_fallocate(fd, (off_t)off, (off_t)nbytes);
}

/* Map nbytes of the file at off (a page multiple), shared: stores reach
   the file.  Read-only mappings for read-only files.  NULL on failure. */
static void *segpy_os_map_file(int fd, size_t off, size_t nbytes, int writable) {
    void *p = mmap(NULL, nbytes, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, fd, (off_t)off);
    return p == MAP_FAILED ? NULL : p;
}

/* Write dirty pages of [p, p+nbytes) (a mapping of a file) back, waiting. */
static int segpy_os_sync_mapping(void *p, size_t nbytes) {
    return msync(p, nbytes, MS_SYNC);
}

/* Write all of buf at off, retrying short writes; 0 or -1 (errno set). */
static int segpy_os_pwrite_all(int fd, const void *buf, size_t n, size_t off) {
    const char *b = (const char *)buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, b, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += k; n -= (size_t)k; off += (size_t)k;
    }
    return 0;
}

static int segpy_os_datasync(int fd) {
    return fdatasync(fd);
}

static int segpy_os_close(int fd) {
    return close(fd);
}

#endif
