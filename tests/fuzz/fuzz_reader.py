"""Turn fuzzer bytes into choices (shared by the harnesses in this folder).

Deliberately not atheris's FuzzedDataProvider: the harnesses must run the
same way under atheris, under the random-bytes fallback driver and in the
pytest smoke test, where atheris may be absent.  Past the end of the input
every read returns its smallest value, so every input is a finite program.
"""

from __future__ import annotations

import os
import random
import sys
import time


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self, lo: int, hi: int) -> int:
        """An int in [lo, hi] from as few bytes as the range needs."""
        span = hi - lo
        if span <= 0:
            return lo
        v = 0
        for _ in range((span.bit_length() + 7) // 8):
            v = (v << 8) | self.byte()
        return lo + v % (span + 1)

    def bool(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bytes(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out + bytes(n - len(out))


def _instrument(atheris, module_names) -> None:
    """Instrument the functions and methods of these modules only
    (``atheris.instrument_all()`` would take minutes over numpy and the rest)."""
    import types

    for name in module_names:
        mod = sys.modules.get(name)
        for attr, obj in list(vars(mod).items()) if mod else ():
            if isinstance(obj, types.FunctionType) and obj.__module__ == name:
                setattr(mod, attr, atheris.instrument_func(obj))
            elif isinstance(obj, type) and obj.__module__ == name:
                for k, f in list(vars(obj).items()):
                    if isinstance(f, types.FunctionType):
                        setattr(obj, k, atheris.instrument_func(f))


def main(test_one_input, argv=None) -> None:
    """Run a harness: under atheris if it is installed (argv as libFuzzer's),
    else (or with ``--fallback``) feed random byte strings: ``-runs=N``,
    ``-max_len=N``, ``-seed=N`` are understood by both."""
    argv = list(sys.argv if argv is None else argv)
    fallback = "--fallback" in argv
    argv = [a for a in argv if a != "--fallback"]
    if not fallback:
        try:
            import atheris
        except ImportError:
            print("atheris is not installed: using the random-bytes fallback driver",
                  file=sys.stderr)
        else:
            # Coverage feedback from the Python code (harness, model, hostile
            # objects and reader); segpy's C code is not instrumented (see docs/trust.md).
            _instrument(atheris, ("fuzz_models", "fuzz_reader", "hostile",
                                  test_one_input.__module__))
            atheris.Setup(argv, test_one_input)
            atheris.Fuzz()
            return
    opts = {k: int(v) for k, v in (a[1:].split("=", 1) for a in argv[1:]
                                  if a.startswith("-") and "=" in a and a[1:].split("=")[1].isdigit())}
    runs, max_len = opts.get("runs", 100_000), opts.get("max_len", 512)
    rng = random.Random(opts.get("seed", int.from_bytes(os.urandom(4), "little")))
    t0 = time.perf_counter()
    for i in range(runs):
        test_one_input(rng.randbytes(rng.randint(0, max_len)))
        if (i + 1) % 10_000 == 0:
            dt = time.perf_counter() - t0
            print(f"#{i + 1} execs in {dt:.1f}s ({(i + 1) / dt:.0f}/s)", file=sys.stderr, flush=True)
    dt = time.perf_counter() - t0
    print(f"Done {runs} runs in {dt:.1f}s (fallback driver), no crash", file=sys.stderr)
