# cython: language_level=3
"""The bump arena's state: a chain of mmap'd arena blocks carved by a bump pointer.

Private: segpy's bump module and its benchmarks cimport this; consumers
use ``segpy_bump_create`` from ``segpy/bump.pxd``.

Layout of the arena::

    blocks[0]            blocks[1]                     blocks[cur]          (cached)
    +------------+       +------------------------+    +----------------+   +--------+
    |AAAA BB CCCC|  -->  |DDDDDDDD EEE ..wasted.. | -> |FFFF GG|  free  |   | empty  |
    +------------+       +------------------------+    +-------^--------+   +--------+
     size = F              size = 2F                   base   top      end
                                                               (bump pointer)

* Each arena block is one ``_alloc.map_pages`` mapping (a page multiple).
  The first has ``first_block`` bytes (>= 4096); each next one twice the
  block it follows, or enough for the request that did not fit.
* Allocation rounds ``top`` up to the alignment and adds the size: one
  compare decides whether it fits.  A request that does not fit moves to
  the next block; the tail of the old block is wasted until a reset or a
  scope rewind.
* Only the most recent allocation (``last``) can be rolled back or grown.

Debug mode (``common.debug``): every allocation is framed::

    top (before)                                     top (after)
    |                                                |
    v                                                v
    +-- pad --+--- bump_hdr_t ---+---- payload ----+-- guard --+
    | FD FD ..| magic|state|size | CD CD CD ...    | FD x 16   |
    +---------+------------------+-----------------+-----------+
              ^ 16-aligned        ^ p (align >= 16)

  The pad (alignment slack) is filled with the guard byte too, so a walk of
  the block skips guard bytes until it meets the next header's magic.
  Released payloads are filled with 0xDD and their header's state set to 0.

Scope frames (``scopes[0]`` is a sentinel for "no scope", checkpoint (0, 0))::

    scopes[k] = { blk, off, n_live }    checkpoint (blk, off) of the k-th open
                                        scope; n_live = live allocations at or
                                        after it and before scopes[k+1]'s.

  Invariants: checkpoints are non-decreasing in (blk, off) and <= (cur, top);
  the sum of the frames' n_live is ``_alloc.n_blocks(&common)``; so is the sum of
  the arena blocks' n_live.  A new allocation always belongs to the innermost
  frame; a release belongs to the innermost frame whose checkpoint is at or
  before the released position.  A scope can be rewound iff its n_live is 0.

Thread model: not locked; callers serialise.  No function here needs the GIL.
"""

from libc.stdint cimport uint32_t

from segpy cimport _alloc
from segpy.alloc cimport segpy_alloc_common_t


cdef enum:
    BUMP_MAX_BLOCKS = 64          # blocks at least double: 64 can never run out
    BUMP_MIN_BLOCK = 4096
    BUMP_HDR_BYTES = 16           # sizeof(bump_hdr_t)
    BUMP_MAGIC = 0x50425355       # low byte 0x55 is never the guard byte 0xFD
    BUMP_STATE_FREE = 0
    BUMP_STATE_LIVE = 1


ctypedef struct bump_hdr_t:        # debug mode only; sits right before the payload
    uint32_t magic
    uint32_t state                 # BUMP_STATE_LIVE / BUMP_STATE_FREE
    size_t nbytes                  # the request size (payload bytes)


ctypedef struct bump_block_t:      # one arena block (an OS mapping)
    char* base
    size_t size
    size_t used                    # bytes bumped; exact for blocks before cur only
    size_t n_live                  # live allocations whose payload is in this block


ctypedef struct bump_scope_t:      # one scope frame (see the module docstring)
    int blk
    size_t off
    size_t n_live


ctypedef void* (*bump_slow_fn)(void* b, size_t nbytes, size_t align) noexcept nogil


ctypedef struct bump_t:
    segpy_alloc_common_t common    # must come first (the Allocator base reads it)
    char* top                      # bump pointer in blocks[cur]
    char* end                      # blocks[cur].base + blocks[cur].size
    char* last                     # payload of the most recent live allocation, or NULL
    char* last_top                 # top before it: where a rollback puts top back
    size_t last_nbytes
    size_t max_align               # the page size: largest alignment accepted
    size_t first_block
    int cur                        # index of the current block (-1: none mapped yet)
    int n                          # arena blocks mapped
    bump_block_t blocks[BUMP_MAX_BLOCKS]
    bump_scope_t* scopes           # malloc'd; scopes[0] is the sentinel frame
    int n_scopes                   # >= 1 once initialised
    int scope_cap
    # The slow path (bump_request_slow in bump.pyx), reached through this
    # pointer so that the inline fast path below needs no exported function.
    bump_slow_fn request_slow


cdef inline void* bump_request_fast(bump_t* b, size_t nbytes, size_t align) noexcept nogil:
    """The fast path: an aligned bump inside the current block, else the slow path.

    ``nbytes - 1 < end - top`` rejects 0 and anything larger than the room
    left (so the sum below cannot overflow); the alignment test rejects
    non-powers of two and anything above the page size.  Debug mode always
    takes the slow path (it writes headers and guards).
    """
    cdef size_t top = <size_t>b.top
    cdef size_t p = (top + align - 1) & ~(align - 1)
    if (b.common.debug == 0 and nbytes - 1 < <size_t>b.end - top
            and p + nbytes <= <size_t>b.end
            and (align & (align - 1)) == 0 and align - 1 < b.max_align):
        b.last = <char*>p
        b.last_top = b.top
        b.last_nbytes = nbytes
        b.top = <char*>(p + nbytes)
        b.blocks[b.cur].n_live += 1
        b.scopes[b.n_scopes - 1].n_live += 1
        _alloc.note_alloc(&b.common, nbytes)
        return <void*>p
    return b.request_slow(b, nbytes, align)
