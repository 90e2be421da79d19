#!/usr/bin/env python3
"""Read valgrind memcheck logs for tools/valgrind.sh.

Two jobs:

``summary LOG``
    Count the errors in LOG and those whose stack has a segpy frame (a frame
    in segpy's extension modules ``seglist``, ``heap``, ``bump``, ``buffer``,
    ``alloc`` or their sources).  Prints both and every segpy error's stack;
    exits 1 if any segpy error was found.

``suppressions LOG... > FILE``
    Turn the ``--gen-suppressions=all`` blocks of LOGs (runs that execute no
    segpy code: ``python -c pass``, ``import numpy``) into generalised
    suppressions: each keeps its error kind and its innermost three frames
    (CPython's or glibc's functions), then ``...``; duplicates are dropped.
    An error whose innermost frames are segpy's never matches them.
"""

from __future__ import annotations

import re
import sys

SEGPY_FRAME = re.compile(
    r"(segpy/(seglist|heap|bump|buffer|alloc)\.(pyx|pxd|c)"
    r"|/(seglist|heap|bump|buffer|alloc)\.cpython-[^ )]*\.so"
    r"|\b(seglist|heap|bump|bufalloc|sysalloc|segpy)_\w+)")
ERROR_START = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|"
    r"Syscall param|Mismatched free|Source and destination overlap|"
    r"Argument '.*' of function|\d+ bytes in \d+ blocks are definitely)")
FRAME = re.compile(r"^==\d+==    (at|by) 0x")


def errors(path):
    """Yield (headline, [frame lines]) for each error reported in the log."""
    cur = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if ERROR_START.match(line):
                if cur:
                    yield cur
                cur = (line.split("== ", 1)[1], [])
            elif cur is not None and (FRAME.match(line) or "Address 0x" in line
                                      or "Block was alloc'd" in line):
                cur[1].append(line.split("== ", 1)[1].strip())
            elif cur is not None and line.endswith("==") or (cur and line.startswith("{")):
                yield cur
                cur = None
    if cur:
        yield cur


def summary(path) -> int:
    total = 0
    segpy = []
    for head, frames in errors(path):
        total += 1
        if any(SEGPY_FRAME.search(fr) for fr in frames):
            segpy.append((head, frames))
    for head, frames in segpy:
        print(head)
        for fr in frames:
            print("   ", fr)
    with open(path, errors="replace") as f:
        text = f.read()
    counts = re.findall(r"ERROR SUMMARY: (\d+) errors from (\d+) contexts \(suppressed: (\d+)", text)
    if counts:
        e, c, s = counts[-1]
        print(f"valgrind: {e} errors from {c} contexts after {s} suppressed")
    print(f"errors reported in the log: {total}; with a segpy frame: {len(segpy)}")
    return 1 if segpy else 0


def suppressions(paths) -> int:
    seen = set()
    n = 0
    for path in paths:
        with open(path, errors="replace") as f:
            text = f.read()
        for block in re.findall(r"^\{\n(.*?)^\}", text, flags=re.DOTALL | re.MULTILINE):
            lines = [ln.strip() for ln in block.splitlines()[1:] if ln.strip()]
            kind, frames = lines[0], [ln for ln in lines[1:] if ln.startswith(("fun:", "obj:"))]
            if kind.startswith("Memcheck:Param"):
                frames = [ln for ln in lines[1:]][:4]       # keeps the param line
                key = (kind, tuple(frames))
            else:
                key = (kind, tuple(frames[:3]))
            if key in seen or any(SEGPY_FRAME.search(fr) for fr in key[1]):
                continue
            seen.add(key)
            n += 1
            name = re.sub(r"\W", "-", kind.split(":", 1)[1])
            print("{")
            print(f"   generated-{n}-{name}")
            print(f"   {kind}")
            for fr in key[1]:
                print(f"   {fr}")
            print("   ...")
            print("}")
    print(f"# {n} suppressions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "summary":
        sys.exit(summary(sys.argv[2]))
    if len(sys.argv) >= 3 and sys.argv[1] == "suppressions":
        sys.exit(suppressions(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
