# cython: language_level=3
"""The file allocator's state: one list's segments, each mapped from one file.

Private: only segpy's file module cimports this; consumers use
``segpy_file_create`` from ``segpy/file.pxd``.

Layout of the file (offsets in bytes; ``D`` = data offset, 4096 or the page
size if larger; ``B`` = bytes of the first segment, a page multiple)::

    0           2048         4096 = D     D + B        D + 3B             D + 7B
    +-----------+------------+------------+------------+------------------+----
    |  slot 0   |  slot 1    | segment 0  | segment 1  |    segment 2     | ...
    | (header)  | (header)   |  B bytes   |  2B bytes  |     4B bytes     |
    +-----------+------------+------------+------------+------------------+----
                             |<--- the list's elements, in order, end to end --->

Segment ``j`` is at ``D + B * (2**j - 1)``, fixed by the geometry, so the
data is one array: element ``i`` is at ``D + i * itemsize`` (numpy can map
it with ``np.memmap(path, dtype, offset=D, shape=(length,))``).  Each
segment is its own ``MAP_SHARED`` mapping of that range: a new segment
never moves an old one, and the file is never remapped.

One header slot (little-endian; docs/file-format.md has the full table)::

    offset  size  field
    0       8     magic b"SEGPYLST"
    8       4     format version (1)
    12      4     slot bytes (2048)
    16      8     generation (slot g % 2 holds generation g)
    24      8     length (elements published)
    32      8     itemsize
    40      4     shift (first segment = 2**shift elements)
    44      4     descr length
    48      8     data offset D
    56      8     zero
    64      ...   numpy's dtype descr, as ASCII (repr of dtype_to_descr)
    ...           zero
    2040    8     checksum: FNV-1a 64 of bytes [0, 2040)

Publishing (``FileAllocator._publish``, LMDB's two meta pages): the data is
synced first; then the slot for generation ``g + 1`` (slot ``(g+1) % 2``,
the older one) is written whole and synced.  On open the valid slot (magic,
version, checksum) with the higher generation wins.  A crash before the
slot's sync leaves the other slot, which describes data that is all on
disk: a published element is never lost, and a torn slot fails its
checksum.

Invariants of ``file_t``: ``maps[0..n_maps)`` are the live mappings of
segments ``0..n_maps``, in order (segment ``j`` is ``B << j`` bytes);
``file_bytes`` is the size the file has been extended to (it covers every
live mapping); requests come in segment order and releases in the reverse
order, which is how a list asks (anything else is refused).
"""

from libc.stdint cimport uint64_t

from segpy.alloc cimport segpy_alloc_common_t


cdef enum:
    FILE_SLOT_BYTES = 2048       # one header slot; two of them head the file
    FILE_HEADER_BYTES = 4096     # the two slots; the data starts here or at a page
    FILE_CHECKSUM_AT = 2040      # the checksum covers the slot's bytes before it
    FILE_GEN_AT = 16             # field offsets in a slot (the diagram above)
    FILE_LENGTH_AT = 24
    FILE_ITEMSIZE_AT = 32
    FILE_SHIFT_AT = 40           # a u32; read as the low half of a u64 (descr length above)
    FILE_DATA_OFFSET_AT = 48
    FILE_MAX_SEGMENTS = 64
    # Stores from this size up go to the file with pwrite rather than
    # through the mapping (file_store; docs/file-format.md has the figures).
    FILE_STORE_PWRITE_BYTES = 65536


ctypedef struct file_t:
    segpy_alloc_common_t common    # must come first: the interface's ctx points here
    int fd                  # owned: closed by destroy
    int writable            # mappings are PROT_READ | PROT_WRITE, the file may grow
    size_t data_offset      # D: where segment 0 starts in the file
    size_t first_bytes      # B: bytes of segment 0
    size_t file_bytes       # the file's size as far as this allocator made it
    int n_maps              # live segment mappings
    uint64_t generation     # of the newest published slot
    char* maps[64]          # maps[j]: segment j's mapping
    unsigned char slot[2048]   # the next slot to publish; generation and length patched in
