"""Fuzz opening file-backed lists: damaged, truncated, extended and forged files.

Each input makes a real file with segpy (a dtype, a first segment, some
flushes), then damages it as the bytes say: bit flips and byte writes in the
header, truncation, junk appended, and *forged* slots whose checksum is
valid but whose fields lie (lengths past the end, other dtypes, object
dtypes, odd data offsets, shifts and generations).  Then it opens the file
read-only or for appending and uses the list.

Run (docs/trust.md)::

    python -P tests/fuzz/fuzz_file.py -runs=20000 -max_len=256
    python -P tests/fuzz/fuzz_file.py --fallback -runs=5000   # without atheris

Allowed outcomes: ValueError (a refused file), or a list whose length fits
in the file and whose every element can be read.  Anything else (another
exception, a crash, a list reading past its file) is a failure.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import segpy

from fuzz_reader import Reader, main

DTYPES = ["int64", "int8", "float32", "S3", "<u2", ">i4", "datetime64[ms]",
          [("a", "<i4"), ("b", "S5")]]
DESCRS = ["'<i8'", "'|O'", "'<f4'", "('<f8', (3,))", "[('a', '<i4')]", "'<i8' + 1",
          "__import__('os')", "'" + "x" * 40 + "'", "''", "'|V0'", "'<M8[ns]'"]
FIXED = struct.Struct("<8sIIQQQIIQ8x")
_DIR = tempfile.mkdtemp(prefix="segpy-fuzz-file-")
PATH = os.path.join(_DIR, "f.seg")


def _fnv(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _forged_slot(r: Reader, k: int) -> bytes:
    gen = r.choice([k, k + 2, k + 4, 1 - k, 0, 2 ** 63 + k])
    length = r.choice([0, 1, 100, 5000, 2 ** 20, 2 ** 40, 2 ** 62, 2 ** 64 - 1])
    descr = r.choice(DESCRS).encode()
    itemsize = r.choice([8, 4, 1, 0, 24, 2 ** 32])
    shift = r.choice([0, 9, 13, 30, 31, 2 ** 31])
    data_offset = r.choice([4096, 0, 2048, 8192, 4096 + 64, 2 ** 40])
    body = FIXED.pack(b"SEGPYLST", r.choice([1, 1, 1, 2, 0]), 2048, gen, length,
                      itemsize, shift, min(len(descr), r.choice([len(descr), 3, 5000])),
                      data_offset) + descr
    body += bytes(2040 - len(body))
    return body + struct.pack("<Q", _fnv(body))


def _make_file(r: Reader) -> None:
    dt = np.dtype(r.choice(DTYPES))
    lst = segpy.SegmentedList.open(PATH, dt, mode="w", first_segment=r.choice([None, 4096]))
    for _ in range(r.int(0, 3)):
        n = r.int(0, 3) * 3000
        lst.extend(np.zeros(n, dtype=dt))
        lst.flush()
    if r.bool():
        lst.extend(np.zeros(r.int(0, 5000), dtype=dt))   # unflushed


def _damage(r: Reader) -> None:
    with open(PATH, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        for _ in range(r.int(0, 4)):
            what = r.int(0, 5)
            if what == 0:                            # a bit flip in the header
                at = r.int(0, 4095)
                f.seek(at)
                b = f.read(1) or b"\0"
                f.seek(at)
                f.write(bytes([b[0] ^ (1 << r.int(0, 7))]))
            elif what == 1:                          # a byte anywhere early
                f.seek(r.int(0, 8191))
                f.write(bytes([r.byte()]))
            elif what == 2:                          # truncation
                size = r.choice([0, 100, 4095, 4096, 4097, 8192, size // 2, size - 1])
                f.truncate(max(0, size))
            elif what == 3:                          # junk appended
                f.seek(0, 2)
                f.write(r.bytes(r.int(1, 64)))
            else:                                    # a forged slot
                k = r.int(0, 1)
                f.seek(2048 * k)
                f.write(_forged_slot(r, k))


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    _make_file(r)
    _damage(r)
    mode = r.choice(["r", "r", "r+"])
    try:
        lst = segpy.SegmentedList.open(PATH, mode=mode)
    except ValueError:
        return
    size = os.path.getsize(PATH)
    fa = lst.allocator
    assert fa.data_offset + len(lst) * lst.itemsize <= size, (len(lst), size)
    arr = lst.to_numpy()                     # every element is readable
    assert len(arr) == len(lst)
    if len(lst):
        lst[len(lst) - 1]
        lst.segments()
    if mode == "r+":
        lst.extend(np.zeros(r.int(0, 3000), dtype=lst.dtype))
        lst.flush()
        again = segpy.SegmentedList.open(PATH)
        assert len(again) == len(lst)
    del lst


if __name__ == "__main__":
    main(TestOneInput)
