"""segpy's demo: build a 64-million-element int64 list one push at a time.

Run it as ``segpy-demo`` (installed with the package) or ``python -P -m
segpy.demo``.  Each contender builds the same list, ``for i in range(n):
append(i)``, and then turns it into an ndarray, in a fresh subprocess so that
its peak memory is its own:

* ``segpy``: ``SegmentedList('q').append``, then ``to_numpy()``;
* ``list``: ``list.append``, then ``np.array(lst)``;
* ``array.array``: ``array('q').append``, then ``np.frombuffer`` (no copy);
* ``numpy doubling``: a hand-written doubling ndarray, then a trim.

Peak memory is the peak resident set while building and converting, minus
the resident set just before, compared with the 8 bytes per element payload.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONTENDERS = ("segpy", "list", "array.array", "numpy doubling")


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Progress:
    """Prints how far a build has got, on stderr, at most every 5%."""

    def __init__(self, name, n):
        self.name, self.n, self.last = name, n, -1
        self.tty = sys.stderr.isatty()

    def __call__(self, done):
        pct = 100 * done // self.n
        step = 5 if self.tty else 25
        if pct // step == self.last // step and done != self.n:
            return
        self.last = pct
        bar = "#" * (pct // 5) + "." * (20 - pct // 5)
        end = "\n" if (not self.tty or done == self.n) else ""
        sys.stderr.write(f"\r  {self.name:<15} [{bar}] {pct:3d}%{end}")
        sys.stderr.flush()


def _append_all(ap, n, chunk, progress):
    # One bound-method call per element, the way a user's loop would do it;
    # the chunking only gives the progress bar somewhere to report.
    for lo in range(0, n, chunk):
        for i in range(lo, min(lo + chunk, n)):
            ap(i)
        progress(min(lo + chunk, n))


def _build(name, n, chunk, progress):
    """Build and convert; returns (build seconds, convert seconds, peak RSS after building)."""
    import array

    import numpy as np

    from segpy import SegmentedList

    # The contenders that build by append, and how each makes an empty container.
    appenders = {"segpy": lambda: SegmentedList("q"), "list": list,
                 "array.array": lambda: array.array("q")}
    t0 = time.perf_counter()
    if name in appenders:
        lst = appenders[name]()
        _append_all(lst.append, n, chunk, progress)
        t1, build_peak = time.perf_counter(), _peak_rss_bytes()
        if name == "segpy":
            out = lst.to_numpy()
        elif name == "list":
            out = np.array(lst, dtype=np.int64)
        else:
            out = np.frombuffer(lst, dtype=np.int64)
    elif name == "numpy doubling":
        cap, size = 16, 0
        arr = np.empty(cap, dtype=np.int64)
        for lo in range(0, n, chunk):
            for i in range(lo, min(lo + chunk, n)):
                if size == cap:
                    cap *= 2
                    grown = np.empty(cap, dtype=np.int64)
                    grown[:size] = arr[:size]
                    arr = grown
                arr[size] = i
                size += 1
            progress(min(lo + chunk, n))
        t1, build_peak = time.perf_counter(), _peak_rss_bytes()
        out = arr[:size]
    else:
        raise ValueError(f"unknown contender {name!r}")
    t2 = time.perf_counter()
    if len(out) != n or out[-1] != n - 1 or out[n // 2] != n // 2:
        raise AssertionError(f"{name} built a wrong array")
    return t1 - t0, t2 - t1, build_peak


def _child(name, n):
    import numpy  # noqa: F401  (imported before the baseline is taken)

    import segpy  # noqa: F401

    before = _rss_bytes()
    build_s, convert_s, build_peak = _build(name, n, max(1, n // 100), _Progress(name, n))
    peak = _peak_rss_bytes() - before
    print(json.dumps({"name": name, "n": n, "build_s": build_s, "convert_s": convert_s,
                      "build_peak_bytes": build_peak - before, "peak_bytes": peak}))


def _run_child(name, n):
    # -P: never let a source checkout's segpy/ shadow the installed package.
    cmd = [sys.executable, "-P", "-m", "segpy.demo", "--child", name, "--n", str(n)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {name} run failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    """Run the demo and print the comparison table.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``--n N``, ``--only NAME``); defaults to
        ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status, 0 on success.
    """
    p = argparse.ArgumentParser(
        prog="segpy-demo",
        description="Build an int64 list one append at a time with segpy, list, "
        "array.array and numpy doubling; compare time and peak memory.")
    p.add_argument("--n", type=int, default=64_000_000,
                   help="elements to append (default 64,000,000)")
    p.add_argument("--only", choices=CONTENDERS, action="append",
                   help="run only this contender (repeatable)")
    p.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be at least 1")
    if args.child:
        _child(args.child, args.n)
        return 0

    import numpy as np

    import segpy

    names = args.only or list(CONTENDERS)
    payload = 8 * args.n
    print(f"segpy {segpy.__version__} demo: append {args.n:,} int64 values one at a "
          f"time, then export to numpy (numpy {np.__version__}, Python "
          f"{sys.version.split()[0]}).  Each contender runs in its own process.",
          flush=True)
    rows = []
    for name in names:
        rows.append(_run_child(name, args.n))
    print()
    hdr = (f"{'contender':<16}{'build':>9}{'to numpy':>10}{'total':>9}"
           f"{'vs segpy':>10}{'build peak':>12}{'/payload':>10}{'with numpy':>12}"
           f"{'/payload':>10}")
    print(hdr)
    print("-" * len(hdr))
    ref = next((r for r in rows if r["name"] == "segpy"), None)
    for r in rows:
        total = r["build_s"] + r["convert_s"]
        rel = f"{total / (ref['build_s'] + ref['convert_s']):.2f}x" if ref else "-"
        print(f"{r['name']:<16}{r['build_s']:>8.2f}s{r['convert_s']:>9.2f}s"
              f"{total:>8.2f}s{rel:>10}{r['build_peak_bytes'] / 1e6:>9.0f} MB"
              f"{r['build_peak_bytes'] / payload:>9.2f}x{r['peak_bytes'] / 1e6:>9.0f} MB"
              f"{r['peak_bytes'] / payload:>9.2f}x")
    print(f"\npayload: {payload / 1e6:.0f} MB.  'build peak' is the peak resident memory "
          "while appending; 'with numpy' also covers the conversion to one ndarray "
          "(segpy's to_numpy() copies, array.array's frombuffer does not).  "
          "segpy.SegmentedList.segments() gives zero-copy views instead.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
