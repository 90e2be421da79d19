from typing import Any

from segpy.alloc import Allocator

class BufferAllocator(Allocator):
    def __init__(
        self, buffer: Any, *, max_bytes: int | None = None, debug: bool = False
    ) -> None: ...
    @property
    def buffer(self) -> Any: ...
    # Test hooks: drive the C seam with raw addresses.
