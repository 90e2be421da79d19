# cython: language_level=3
"""The buffer allocator's state: blocks carved out of one caller-provided buffer.

Private: only segpy's buffer module cimports this; consumers use
``segpy_buffer_create`` from ``segpy/buffer.pxd``.

Layout of the managed buffer (``base`` .. ``base + size``)::

    offset 0                data_end                   lim - n*H        lim   size
    |                          |                            |            |     |
    v                          v                            v            v     v
    +------+------+-----+------+----------------------------+---+---+---+-----+
    | blk0 | blk1 | ... | blkN |    wilderness (unused)     |h_N|...|h_0| pad |
    +------+------+-----+------+----------------------------+---+---+---+-----+
      data grows up -->                                 <-- header table grows down

* The data area is ``[0, data_end)`` and is *tiled* by the blocks: block 0
  starts at offset 0, each block starts where the previous one ends, and
  the last one ends at ``data_end``.  Used and free blocks alternate freely,
  but no two free blocks are adjacent (release merges them) and the last
  block is never free (releasing it hands its bytes back to the wilderness).
* The header table sits at the top: ``lim`` is the buffer's end rounded
  down to 8 bytes, and header ``i`` is the ``bufhdr_t`` at
  ``base + lim - (i + 1) * H`` (``H = sizeof(bufhdr_t)``).  Headers are in
  block order, so header ``i`` describes the ``i``-th block from the bottom
  and both ``start`` and ``payload`` increase with ``i``: release finds a
  block by binary search on ``payload``.  Appending a block adds a header
  at the low end of the table without moving the others.
* The wilderness ``[data_end, lim - n*H)`` is the only place both sides
  grow into; a request or a new header that would cross it fails.

One block (offsets from ``base``; ``g`` = guard bytes, 16 in debug mode,
else 0)::

    start          payload                payload+size          end
    |<- pad + g ->|<------- size ------->|<-- g + slack -->|
    +-------------+----------------------+------------------+
    | 0xFD guard  |  payload (0xCD new)  |   0xFD guard      |
    +-------------+----------------------+------------------+

``pad`` is whatever aligning the payload cost; ``slack`` is a split
remainder too small to be worth a free block of its own.  In debug mode the
whole ``[start, payload)`` and ``[payload + size, end)`` hold the guard byte,
so a write past the block's end is caught even inside the slack.  A free
block has ``payload == start`` and ``size == 0``; its bytes are filled with
0xDD in debug mode.
"""

from libc.stdint cimport uint32_t

from segpy.alloc cimport segpy_alloc_common_t


# Header of one block, in the table at the top of the buffer (40 bytes on
# 64-bit platforms, a multiple of 8 so the table stays aligned).
ctypedef struct bufhdr_t:
    size_t start        # offset of the block's first byte
    size_t end          # offset one past its last byte (== next block's start)
    size_t payload      # offset of the payload (used); == start (free)
    size_t size         # requested bytes (used); 0 (free)
    uint32_t state      # 1 used, 0 free
    uint32_t magic      # BUF_MAGIC: a header overwritten by a wild write shows up in check()


cdef enum:
    BUF_MAGIC = 0x5E6B0FFE
    # A split remainder smaller than this stays inside the used block as
    # slack instead of costing a header (and a future merge).
    BUF_MIN_SPLIT = 64
    # Smallest buffer worth managing: room for a few headers and some data.
    BUF_MIN_SIZE = 256


ctypedef struct bufalloc_t:
    segpy_alloc_common_t common    # must come first: the interface's ctx points here
    char* base          # the buffer's first byte
    size_t size         # the buffer's length in bytes
    size_t lim          # size rounded down so base + lim is 8-aligned (top of the table)
    size_t data_end     # end of the last block; the wilderness starts here
    size_t n_hdr        # headers in the table (used + free blocks)
    size_t n_free       # of which free blocks
    size_t guard        # guard bytes on each side of a payload (0 unless debug)
