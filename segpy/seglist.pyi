from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, SupportsIndex

import numpy as np
import numpy.typing as npt

from segpy.alloc import Allocator

class SegmentedList:
    def __init__(
        self,
        dtype: npt.DTypeLike,
        iterable: Iterable[Any] = (),
        *,
        allocator: Allocator | None = None,
        first_segment: int | None = None,
    ) -> None: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def first_segment(self) -> int: ...
    @property
    def allocator(self) -> Allocator: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def append(self, x: Any, /) -> None: ...
    def extend(self, iterable: Iterable[Any] | npt.ArrayLike, /) -> None: ...
    def __getitem__(self, idx: int) -> Any: ...
    def __setitem__(self, idx: int, x: Any) -> None: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __reversed__(self) -> Iterator[Any]: ...
    def clear(self) -> None: ...
    def reserve(self, n: int, /) -> None: ...
    def copy(self) -> SegmentedList: ...
    def to_numpy(
        self,
        start: SupportsIndex | None = None,
        stop: SupportsIndex | None = None,
        *,
        out: np.ndarray[Any, np.dtype[Any]] | None = None,
    ) -> np.ndarray[Any, np.dtype[Any]]: ...
    def __array__(
        self, dtype: npt.DTypeLike | None = None, copy: bool | None = None
    ) -> np.ndarray[Any, np.dtype[Any]]: ...
    def segments(self) -> list[np.ndarray[Any, np.dtype[Any]]]: ...
    def __eq__(self, other: object) -> Any: ...
    def __ne__(self, other: object) -> Any: ...
    __hash__: None  # type: ignore[assignment]
    # -- numpy-style bulk access, sort, pickle (see _seglist_bulk.pxi) --
    def take(
        self,
        indices: SupportsIndex | Sequence[SupportsIndex] | npt.ArrayLike,
        axis: SupportsIndex | None = None,
        out: np.ndarray[Any, np.dtype[Any]] | None = None,
        mode: Literal["raise", "wrap", "clip"] = "raise",
    ) -> Any: ...
    def put(
        self,
        indices: SupportsIndex | Sequence[SupportsIndex] | npt.ArrayLike,
        values: Any,
        mode: Literal["raise", "wrap", "clip"] = "raise",
    ) -> None: ...
    def sum(
        self,
        axis: SupportsIndex | tuple[SupportsIndex] | None = None,
        dtype: npt.DTypeLike | None = None,
        out: np.ndarray[Any, np.dtype[Any]] | None = None,
        keepdims: bool = False,
        initial: Any = ...,
        where: npt.ArrayLike = True,
    ) -> Any: ...
    def min(
        self,
        axis: SupportsIndex | tuple[SupportsIndex] | None = None,
        out: np.ndarray[Any, np.dtype[Any]] | None = None,
        keepdims: bool = False,
        initial: Any = ...,
        where: npt.ArrayLike = True,
    ) -> Any: ...
    def max(
        self,
        axis: SupportsIndex | tuple[SupportsIndex] | None = None,
        out: np.ndarray[Any, np.dtype[Any]] | None = None,
        keepdims: bool = False,
        initial: Any = ...,
        where: npt.ArrayLike = True,
    ) -> Any: ...
    def sort(
        self,
        *,
        kind: Literal["quicksort", "mergesort", "heapsort", "stable"] | None = None,
        reverse: bool = False,
    ) -> None: ...
    def __reduce_ex__(self, protocol: SupportsIndex, /) -> tuple[Any, ...]: ...

def _locate(i: int, first_segment: int) -> tuple[int, int]: ...
def _getitem_fancy(self: SegmentedList, idx: Any) -> Any: ...
def _unpickle_seglist(
    cls: type[SegmentedList], dtype: np.dtype[Any], first_segment: int, payload: Any
) -> SegmentedList: ...

# -- C-level API (issue 5) --
import sys as _sys  # noqa: E402

if _sys.version_info >= (3, 13):
    from types import CapsuleType as _CapsuleType
else:
    _CapsuleType = Any

capi: _CapsuleType
def capsule(lst: SegmentedList) -> _CapsuleType: ...
