# cython: language_level=3
"""Example consumer of segpy's C-level API.

Builds lists in ``with nogil:`` loops at C speed, then hands them to Python
as :class:`segpy.SegmentedList` objects without copying a byte:

* ``squares(n)``: ``i * i`` for ``i < n``, an int64 list pushed with the
  typed (fused) push.
* ``ast_nodes(n)``: ``n`` 40-byte records of a C struct that matches the
  numpy structured dtype ``NODE_DTYPE``, as an interpreter would store the
  nodes of a syntax tree.
* ``extend_squares(lst, n)``: pushes into an existing SegmentedList from
  C and turns an allocation failure into MemoryError, list unchanged.
* ``total(lst)``: sums an int64 list segment by segment, without the GIL.
* ``sum_of_squares_on_own_heap(n)``: the same pushes and sum on a heap made
  and destroyed from C, with no Python object involved.
"""

from libc.stdint cimport SIZE_MAX
from libc.stdint cimport int32_t
from libc.stdint cimport int64_t
from libc.stdint cimport uint32_t

import numpy as np
import segpy

from segpy.alloc cimport Allocator
from segpy.alloc cimport segpy_allocator_destroy
from segpy.alloc cimport segpy_allocator_t
from segpy.heap cimport segpy_heap_create
from segpy.seglist cimport SegmentedList
from segpy.seglist cimport seglist_destroy
from segpy.seglist cimport seglist_init
from segpy.seglist cimport seglist_push_bytes
from segpy.seglist cimport seglist_push_value
from segpy.seglist cimport seglist_raise
from segpy.seglist cimport seglist_segment
from segpy.seglist cimport seglist_t
from segpy.seglist cimport seglist_truncate
from segpy.seglist cimport seglist_used_segments
from segpy.seglist cimport segmented_list_adopt
from segpy.seglist cimport segmented_list_raise
from segpy.seglist cimport segmented_list_struct


# A syntax-tree node: 8 + 4 + 4 + 8 + 8 + 8 = 40 bytes, no padding.  The
# numpy dtype below must describe the same bytes; ``ast_nodes`` checks the
# size at run time through the size-checked push.
ctypedef struct node_t:
    int64_t parent      # index of the parent node, -1 for the root
    int32_t kind        # 0 = leaf, 1 = binary operator
    uint32_t flags
    double value
    int64_t left        # child indices, -1 if none
    int64_t right

NODE_DTYPE = np.dtype([("parent", "<i8"), ("kind", "<i4"), ("flags", "<u4"),
                       ("value", "<f8"), ("left", "<i8"), ("right", "<i8")])


def squares(Py_ssize_t n):
    """Return a SegmentedList of int64 holding ``i * i`` for ``i < n``.

    The list is built on segpy's current allocator without the GIL, then
    adopted: its segments become the SegmentedList's, with no copy.
    """
    cdef Allocator owner = segpy.get_allocator()
    cdef seglist_t s
    cdef Py_ssize_t i
    cdef int rc = 0
    s.epoch = 0
    seglist_init(&s, sizeof(int64_t), 6, &owner.iface)
    try:
        with nogil:
            for i in range(n):
                rc = seglist_push_value(&s, <int64_t>(i * i))
                if rc != 0:
                    break
        seglist_raise(&s, owner, rc, n - s.length)
        return segmented_list_adopt(&s, np.int64, owner)
    finally:
        seglist_destroy(&s)      # a no-op once adopted


def ast_nodes(Py_ssize_t n):
    """Return a SegmentedList of ``n`` syntax-tree nodes (dtype ``NODE_DTYPE``).

    Node ``i`` is a binary operator whose children are ``2i+1`` and ``2i+2``
    (a complete binary tree in breadth-first order) when they exist, else a
    leaf; ``value`` is ``i / 2``.
    """
    cdef Allocator owner = segpy.get_allocator()
    cdef seglist_t s
    cdef node_t node
    cdef Py_ssize_t i
    cdef int rc = 0
    s.epoch = 0
    seglist_init(&s, NODE_DTYPE.itemsize, 4, &owner.iface)
    try:
        with nogil:
            for i in range(n):
                node.parent = (i - 1) // 2 if i > 0 else -1
                node.left = 2 * i + 1 if 2 * i + 1 < n else -1
                node.right = 2 * i + 2 if 2 * i + 2 < n else -1
                node.kind = 1 if node.left >= 0 else 0
                node.flags = 0
                node.value = i * 0.5
                # Refused (SEGPY_EINVAL) if node_t and NODE_DTYPE disagree.
                rc = seglist_push_bytes(&s, &node, sizeof(node_t))
                if rc != 0:
                    break
        seglist_raise(&s, owner, rc, n - s.length)
        return segmented_list_adopt(&s, NODE_DTYPE, owner)
    finally:
        seglist_destroy(&s)


def extend_squares(SegmentedList lst, Py_ssize_t n):
    """Append ``i * i`` for ``i < n`` to an int64 SegmentedList from C.

    On failure (the allocator's limit, a list that is not 8 bytes wide) the
    pushes of this call are undone and the error is raised: MemoryError or
    ValueError.
    """
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef Py_ssize_t n0 = s.length, i
    cdef int rc = 0
    with nogil:
        for i in range(n):
            rc = seglist_push_value(s, <int64_t>(i * i))
            if rc != 0:
                break
    if rc != 0:
        # All or nothing, like SegmentedList.extend: drop this call's pushes.
        seglist_truncate(s, n0)
    segmented_list_raise(lst, rc, n)


def total(SegmentedList lst):
    """Sum an int64 SegmentedList without the GIL, one segment at a time."""
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef int64_t acc = 0
    cdef Py_ssize_t k, cnt
    cdef int j
    cdef char* p
    if s.itemsize != sizeof(int64_t):
        raise TypeError(f"total() needs an 8-byte integer list, got {lst.dtype}")
    with nogil:
        for j in range(seglist_used_segments(s)):
            p = seglist_segment(s, j, &cnt)
            for k in range(cnt):
                acc += (<int64_t*>p)[k]
    return acc


def sum_of_squares_on_own_heap(Py_ssize_t n):
    """Sum ``i * i`` for ``i < n``, pushed into a list on a heap made from C.

    The heap comes from ``segpy_heap_create`` and goes back, with all its
    memory, through ``segpy_allocator_destroy``: no Python allocator and
    no GIL are involved.  MemoryError if the heap or a segment could not
    be had.
    """
    cdef segpy_allocator_t* heap = segpy_heap_create(SIZE_MAX, 1 << 20, 0, 0)
    cdef seglist_t s
    cdef int64_t acc = 0
    cdef Py_ssize_t i, k, cnt
    cdef int j, rc = 0
    cdef char* p
    if heap == NULL:
        raise MemoryError("segpy_heap_create: no memory for the heap")
    s.epoch = 0
    seglist_init(&s, sizeof(int64_t), 6, heap)
    with nogil:
        for i in range(n):
            rc = seglist_push_value(&s, <int64_t>(i * i))
            if rc != 0:
                break
        for j in range(seglist_used_segments(&s)):
            p = seglist_segment(&s, j, &cnt)
            for k in range(cnt):
                acc += (<int64_t*>p)[k]
        seglist_destroy(&s)            # every list first, then the heap
        segpy_allocator_destroy(heap)
    if rc != 0:
        raise MemoryError(f"the heap refused a segment (code {rc})")
    return acc
