# cython: language_level=3
"""The state of segpy's general-purpose heap: regions, boundary-tag blocks, TLSF buckets.

Private: only segpy's heap module cimports this; consumers use
``segpy_heap_create`` from ``segpy/heap.pxd``.  Nothing is locked: the
caller serialises every call on one ``heap_t``.

Region layout (one OS mapping from ``_alloc.map_pages``; page multiple)::

    base                                                         base+size
    |<- 48 ->|<-16->|<-- payload ...  -->|<-16->|<- payload ->|  |<-16->|
    +--------+------+--------------------+------+-------------+..+------+
    | region | hdr  |  block 0 payload   | hdr  |  block 1    |  | end  |
    | header |  0   |  (first payload at | 1    |             |  | hdr  |
    | (pad)  |      |   base+64)         |      |             |  | size0|
    +--------+------+--------------------+------+-------------+..+------+

    Blocks tile [base+48, base+size-16) exactly; the end header (size 0,
    USED) stops walks and carries the last block's size in prev_size.

Block header (16 bytes; a payload address p has its header at p - 16, or at
p - 48 in debug mode, O(1))::

    +-------------------+-----------------------------------+
    | prev_size (8 B)   | size | PREV_PENDING(8) | PENDING(4)  |
    |                   |        PREV_FREE(2) | USED(1)     |
    +-------------------+-----------------------------------+
      size of the         total block bytes incl. header,
      physical previous   multiple of 16, >= 32
      block (0 = first)

    free block payload:  | next_free | prev_free | ... unused ...
    pending free block:  | slot in heap_t.pend | ... unused ...   (size has PENDING)
    debug used payload:  | nbytes | magic | guard x16 | user nbytes | guard >= 16 |

Buckets (TLSF two-level segregated fit)::

    fl 0      : exact 16-byte classes, sl = size >> 4     (sizes 32..240)
    fl k >= 1 : sizes [2^(k+7), 2^(k+8)), 16 linear subclasses
    fl_bitmap bit k  <=> sl_bitmap[k] != 0
    sl_bitmap[k] bit j <=> heads[k*16 + j] != NULL

Designated victim (``dv``): one free block kept *out of* the buckets, the
remainder of the last small split.  Small requests split from its front and
a release that borders it merges back into it, so a LIFO alloc/free pair is
a handful of stores.
"""

from libc.stdint cimport uint32_t
from libc.stdint cimport uint64_t

from segpy.alloc cimport segpy_alloc_common_t


cdef enum:
    HEAP_HDR = 16              # block header bytes
    HEAP_REGION_HDR = 48       # region header: first payload at base + 64
    HEAP_END_HDR = 16          # end-of-region header
    HEAP_MIN_BLOCK = 32        # header + two free-list links
    HEAP_USED = 1
    HEAP_PREV_FREE = 2
    HEAP_PENDING = 4           # free block not yet in a bucket (see heap_t.pend)
    HEAP_PREV_PENDING = 8      # the previous block is free and PENDING
    HEAP_PREV_FLAGS = 10       # PREV_FREE | PREV_PENDING: kept when a block is resized
    HEAP_FLAGS = 15
    HEAP_SL_LOG2 = 4
    HEAP_SL_COUNT = 16
    HEAP_FL_COUNT = 64
    HEAP_N_BUCKETS = 1024      # HEAP_FL_COUNT * HEAP_SL_COUNT
    HEAP_DEBUG_PREFIX = 32     # debug: nbytes, magic, 16 guard bytes before the user bytes
    HEAP_SMALL_MAX = 4096      # requests up to this split their remainder into the dv
    HEAP_PAGE_ALIGN_FROM = 65536   # requests of at least this start on a page


ctypedef struct hblock_t:
    size_t prev_size           # size of the physical predecessor; 0 for a region's first block
    size_t size                # total bytes | PREV_FREE | USED
    hblock_t* next_free        # payload of a free block: bucket links
    hblock_t* prev_free


ctypedef struct heap_region_t:
    char* base
    size_t size


ctypedef struct heap_t:
    segpy_alloc_common_t common    # must come first: the interface's ctx points here
    size_t region_size         # bytes of an ordinary region
    size_t large_threshold     # requests needing >= this get a region of their own
    size_t cache_bytes         # empty regions kept up to this many bytes
    size_t prefix              # bytes between a block's payload and the user address
    size_t extra               # bytes a block needs beyond the request (header, debug)
    size_t hdr_per_block       # header_bytes charged per live block
    hblock_t* dv               # designated victim or NULL
    # Cached facts about the dv, so that the LIFO fast paths do not have to
    # load them from its header (each such load would sit on the dependency
    # chain from one request/release to the next).  Valid while dv != NULL;
    # set by _set_dv, kept current by the fast paths (which never move the
    # dv's end or its region).
    size_t dv_size             # _bsize(dv)
    char* dv_lo                # first block header address of the dv's region
    int dv_at_end              # the dv is its region's last block
    heap_region_t* regs        # mapped regions sorted by base (libc array)
    size_t n_regs
    size_t cap_regs
    # Region lookup cache, direct-mapped by 2 MiB chunk of the address:
    # rcache[(p >> 21) % 256] is 1 + the index of the region last found for
    # such a chunk, or 0.  Only a hint (the bounds are always checked);
    # cleared whenever the region table changes, since indices shift.
    uint32_t rcache[256]
    # Pending free blocks: released blocks whose coalescing is deferred.
    # heap_release (no debug) only marks the block free and lists it here
    # (a sequential store; its payload's first word holds its slot); the
    # next drain (_pend_drain) merges it.  A random-order release then
    # touches the block's and the next block's headers and nothing else,
    # where merging at once also writes the far ends of both neighbouring
    # free runs (random cache misses).  Pending blocks may touch each other
    # and bucket blocks; after a drain no two free blocks are adjacent.
    # Every request that needs the buckets, grow, trim, stats, check,
    # blocks() and regions() drain first.  The dv never has a free
    # neighbour.  Slots of absorbed blocks are NULL.
    hblock_t** pend            # libc array
    size_t n_pend              # slots used (live or NULL)
    size_t cap_pend
    size_t n_pend_live         # non-NULL slots
    uint64_t fl_bitmap
    uint32_t sl_bitmap[64]
    hblock_t* heads[1024]
    # Bytes of blocks whose coalescing was deferred since the last drain
    # (see heap_release): past cache_bytes the release drains at once, so
    # memory released in bulk still reaches the region cache and the OS.
    size_t pend_bytes
    # A drain sweeps every region's headers instead of settling the pending
    # blocks one by one when at least this many are pending (and they are
    # 1/32 of the live blocks; 0: always sweep).  1024; tests change it.
    size_t sweep_min
