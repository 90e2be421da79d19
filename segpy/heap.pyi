from segpy.alloc import Allocator

class Heap(Allocator):
    def __init__(
        self,
        max_bytes: int | None = None,
        *,
        region_size: int = 4 * 1024 * 1024,
        cache_bytes: int = 64 * 1024 * 1024,
        debug: bool = False,
    ) -> None: ...
    @property
    def region_size(self) -> int: ...
    @property
    def cache_bytes(self) -> int: ...
    def trim(self) -> int: ...
    # Test hooks: the C seam called directly.
