"""The file format: every damaged, truncated or foreign file is refused clearly.

The slot layout is docs/file-format.md's; these tests write files by hand
from that table, so a change to the format that the documentation does not
follow fails here.
"""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpy import FileAllocator, SegmentedList

from seg_support import examples

SLOT = 2048
FIXED = struct.Struct("<8sIIQQQIIQ8x")


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def slot_bytes(generation, length, dtype="<i8", shift=13, version=1, magic=b"SEGPYLST",
               descr=None, data_offset=4096, itemsize=None):
    """A slot built from the documented table (an independent writer)."""
    descr = (descr if descr is not None else repr(dtype)).encode()
    itemsize = np.dtype(dtype).itemsize if itemsize is None else itemsize
    body = FIXED.pack(magic, version, SLOT, generation, length, itemsize, shift, len(descr),
                      data_offset) + descr
    body += bytes(2040 - len(body))
    return body + struct.pack("<Q", fnv1a(body))


def write_file(path, slots, data=b"", size=None):
    page = bytearray(4096)
    for k, s in enumerate(slots):
        if s is not None:
            page[k * SLOT:(k + 1) * SLOT] = s
    blob = bytes(page) + data
    if size is not None:
        blob = blob[:size] + bytes(max(0, size - len(blob)))
    with open(path, "wb") as f:
        f.write(blob)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "f.seg")


def made_by_segpy(path, n=20000, flushes=2):
    lst = SegmentedList.open(path, "int64", mode="w")
    for k in range(flushes):
        lst.extend(np.arange(k * n, (k + 1) * n))
        lst.flush()
    return n * flushes


def test_the_documented_layout_is_what_segpy_writes(path):
    n = made_by_segpy(path, 100, flushes=3)    # generations 1 (creation), 2, 3, 4
    with open(path, "rb") as f:
        page = f.read(4096)
    newest = page[0:SLOT]                      # generation 4 lives in slot 0
    assert newest == slot_bytes(4, n)
    assert page[SLOT:2 * SLOT] == slot_bytes(3, 200)


def test_a_file_written_from_the_table_opens(path):
    data = np.arange(8192 * 3, dtype="<i8")
    write_file(path, [None, slot_bytes(1, 10000)], data.tobytes())
    lst = SegmentedList.open(path)
    assert lst.tolist() == list(range(10000))


def test_the_newest_valid_slot_wins(path):
    data = np.arange(8192 * 3, dtype="<i8").tobytes()
    write_file(path, [slot_bytes(2, 100), slot_bytes(3, 200)], data)
    assert len(SegmentedList.open(path)) == 200
    # A torn newest slot (its checksum fails): the older one is used.
    torn = bytearray(slot_bytes(3, 200))
    torn[30] ^= 0x10
    write_file(path, [slot_bytes(2, 100), bytes(torn)], data)
    assert len(SegmentedList.open(path)) == 100


def test_a_slot_in_the_wrong_place_is_not_trusted(path):
    # Generation g lives in slot g % 2: a copy of a slot elsewhere is stale.
    data = np.arange(8192 * 3, dtype="<i8").tobytes()
    write_file(path, [slot_bytes(2, 100), slot_bytes(4, 200)], data)
    assert len(SegmentedList.open(path)) == 100


@pytest.mark.parametrize("case, match", [
    ("empty", "not a segpy list file"),
    ("short", "not a segpy list file"),
    ("foreign", "not a segpy list file"),
    ("version", "format version 2"),
    ("both torn", "damaged header"),
    ("bad descr", "damaged header"),
    ("itemsize lies", "damaged header"),
    ("truncated", "truncated"),
])
def test_bad_files_are_refused_with_a_clear_error(path, case, match):
    data = np.arange(8192, dtype="<i8").tobytes()
    if case == "empty":
        write_file(path, [], size=0)
    elif case == "short":
        write_file(path, [None, slot_bytes(1, 10)], size=4000)
    elif case == "foreign":
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY" + bytes(10000))
    elif case == "version":
        write_file(path, [None, slot_bytes(1, 10, version=2)], data)
    elif case == "both torn":
        a, b = bytearray(slot_bytes(2, 10)), bytearray(slot_bytes(1, 10))
        a[100] ^= 1
        b[2045] ^= 0x80
        write_file(path, [bytes(a), bytes(b)], data)
    elif case == "bad descr":
        write_file(path, [None, slot_bytes(1, 10, descr="__import__('os')")], data)
    elif case == "itemsize lies":
        write_file(path, [None, slot_bytes(1, 10, itemsize=4)], data)
    elif case == "truncated":
        # 8192 elements published: segment 0 must be whole (64 KiB).
        write_file(path, [None, slot_bytes(1, 8192)], data[:-8])
    with pytest.raises(ValueError, match=match):
        SegmentedList.open(path)
    with pytest.raises(ValueError, match=match):
        FileAllocator(path)


@pytest.mark.parametrize("length", [8193, 2**40, 2**62, 2**64 - 1])
def test_a_forged_length_past_the_end_is_refused_promptly(path, length):
    # A valid slot whose length no file could hold: refused as truncated
    # (the size it needs is computed without overflow, and without a loop).
    data = np.arange(8192, dtype="<i8").tobytes()
    write_file(path, [None, slot_bytes(1, length)], data)
    with pytest.raises(ValueError, match="truncated"):
        SegmentedList.open(path)


def test_a_file_truncated_after_a_flush_is_refused(path):
    n = made_by_segpy(path, 50000)
    with open(path, "r+b") as f:
        f.truncate(4096 + 8 * n - 1)
    with pytest.raises(ValueError, match="truncated"):
        SegmentedList.open(path)


def test_an_alignment_this_machine_cannot_map_is_refused(path):
    write_file(path, [None, slot_bytes(1, 0, data_offset=4096 + 64)], bytes(1 << 16))
    with pytest.raises(ValueError, match="alignment"):
        SegmentedList.open(path)


@settings(max_examples=examples(100),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_in_the_header_never_misread(tmp_path_factory, flips):
    # Any flips: the file either opens with one of the two published states
    # (the flips hit the other slot, or unused bytes) or is refused.
    path = str(tmp_path_factory.mktemp("flip") / "f.seg")
    made_by_segpy(path, 20000, flushes=2)
    with open(path, "r+b") as f:
        page = bytearray(f.read(4096))
        for at, bit in flips:
            page[at] ^= 1 << bit
        f.seek(0)
        f.write(page)
    try:
        lst = SegmentedList.open(path)
    except ValueError as exc:
        assert "damaged" in str(exc) or "not a segpy" in str(exc) or "version" in str(exc)
        return
    assert len(lst) in (20000, 40000)
    assert np.array_equal(lst.to_numpy(), np.arange(len(lst)))
