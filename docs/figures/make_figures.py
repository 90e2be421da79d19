"""Draw the documentation's figures as SVG files.

    python docs/figures/make_figures.py            # writes docs/_static/figures/*.svg
    python docs/figures/make_figures.py --check    # exit 1 if a committed SVG is stale

The SVGs are committed, so building the documentation needs no matplotlib;
run this after changing a drawing.  The output is deterministic (no date, a
fixed id salt, text kept as text), so an unchanged drawing gives an
unchanged file and ``--check`` can compare bytes.

Every figure is drawn from the numbers it illustrates (the segment geometry,
the heap's header sizes, the file layout's offsets), computed here the way
segpy computes them, so a figure cannot quietly disagree with its caption.
"""

import argparse
import io
import itertools
import sys
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, Rectangle

OUT = Path(__file__).resolve().parent.parent / "_static" / "figures"

# One palette for every figure: used memory, free memory, headers, metadata.
USED = "#9ecae1"
USED_DARK = "#3182bd"
FREE = "#f0f0f0"
HEADER = "#fdd0a2"
META = "#c7e9c0"
WASTE = "#d9d9d9"
EDGE = "#333333"

plt.rcParams.update({
    "svg.fonttype": "none",        # text stays text: searchable, small files
    "svg.hashsalt": "segpy-docs",  # stable element ids
    "font.family": "DejaVu Sans",
    "font.size": 9,
})


def _axes(width, height, title=None):
    """A figure of width x height inches, drawn in units of a tenth of an inch."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width * 10)
    ax.set_ylim(0, height * 10)
    ax.axis("off")
    if title:
        ax.text(1, height * 10 - 2.75, title, fontsize=9, weight="bold", va="center")
    return fig, ax


def _box(ax, x, y, w, h, text="", color=USED, size=8, weight="normal", hatch=None):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor=EDGE, lw=0.8,
                           hatch=hatch))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
                weight=weight)


def _arrow(ax, start, end, color=EDGE, style="-|>", rad=0.0, lw=0.9, ls="-"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9,
                                 color=color, lw=lw, ls=ls,
                                 connectionstyle=f"arc3,rad={rad}"))


def _text(ax, x, y, text, size=8, ha="left", va="center", **kw):
    ax.text(x, y, text, fontsize=size, ha=ha, va=va, **kw)


def _notes(ax, lines, y_top, step=3.0, size=7.5):
    """Lines of explanation under a drawing, top to bottom."""
    for k, line in enumerate(lines):
        _text(ax, 1, y_top - k * step, line, size=size)


def _msb(x):
    return x.bit_length() - 1


def locate(i, s0):
    """(segment, offset) of element i when the first segment holds s0 elements."""
    k = _msb(s0)
    t = i + s0
    return _msb(t) - k, t - (1 << _msb(t))


# -- (a) segments and stable views -------------------------------------------

def segments_figure():
    s0, nseg, length = 4, 3, 25          # 25 elements: segments of 4, 8, 16
    cell = 2.2
    fig, ax = _axes(7.4, 4.6)
    top = 38
    _text(ax, 1, top + 5, "the list as Python sees it: lst[0] ... lst[len-1]", size=9,
          weight="bold")
    starts = [s0 * ((1 << j) - 1) for j in range(nseg + 1)]
    for i in range(starts[-1]):
        j, _ = locate(i, s0)
        color = (USED, "#a1d99b", "#fdae6b")[j] if i < length else FREE
        _box(ax, 1 + i * cell, top, cell, 3, str(i) if i < length else "", color=color,
             size=5.5)
    for j in range(nseg):
        x0, x1 = 1 + starts[j] * cell, 1 + starts[j + 1] * cell
        ax.plot([x0, x0, x1, x1], [top - 0.6, top - 1.4, top - 1.4, top - 0.6], color=EDGE,
                lw=0.7)
        _text(ax, (x0 + x1) / 2, top - 2.6, f"segment {j}: {s0 << j} = {1 << j}·s0"
              if j else "seg 0: s0 = 4", size=7, ha="center")
    _arrow(ax, (1 + length * cell, top + 5.5), (1 + length * cell, top + 3.1))
    _text(ax, 1 + length * cell + 0.5, top + 5.5, f"len = {length}, capacity = {starts[-1]}",
          size=7)

    # the segments in memory: separate blocks at unrelated addresses
    _text(ax, 1, 27.5, "in memory: each segment is its own block, and never moves",
          size=9, weight="bold")
    mem = [(8, 22), (22, 16.5), (6, 11)]
    colors = (USED, "#a1d99b", "#fdae6b")
    for j, (x, y) in enumerate(mem):
        n = s0 << j
        used = min(n, max(0, length - starts[j]))
        for e in range(n):
            _box(ax, x + e * 1.6, y, 1.6, 2.6, color=colors[j] if e < used else FREE)
        _text(ax, x - 0.5, y + 1.3, f"seg {j}", size=7, ha="right")
        # from the logical range to the block
        xm = 1 + (starts[j] + starts[j + 1]) / 2 * cell
        _arrow(ax, (xm, top - 3.3), (x + n * 0.8, y + 2.8), color="#777777", ls="--")
    # a numpy view per segment
    _text(ax, 56, 26, "views = lst.segments()", size=8, family="monospace")
    for j, (x, y) in enumerate(mem):
        n = s0 << j
        used = min(n, max(0, length - starts[j]))
        _box(ax, 56, y, 16, 2.6, f"views[{j}]: {used} elements", color=META, size=7)
        _arrow(ax, (56, y + 1.3), (x + used * 1.6, y + 1.3), color=USED_DARK)

    # the index math for one element
    i = 13
    j, off = locate(i, s0)
    t = i + s0
    _text(ax, 1, 7.2,
          f"lst[{i}]:  t = i + s0 = {t},  msb(t) = {_msb(t)},  segment j = msb(t) − log2(s0) "
          f"= {j},  offset = t − 2^msb(t) = {off}", size=8, family="monospace")
    _text(ax, 1, 4.2,
          "one count-leading-zeros: no loop, no division.  An append that fills segment 2 "
          "allocates segment 3 (32 elements);", size=8)
    _text(ax, 1, 1.8, "segments 0–2 and the views of them stay where they are.", size=8)
    x, y = mem[j]
    _box(ax, x + off * 1.6, y, 1.6, 2.6, color="#e6550d")
    _arrow(ax, (1 + (i + 0.5) * cell, top), (x + off * 1.6 + 0.8, y + 2.6),
           color="#e6550d", rad=0.25)
    return fig


# -- (b) the heap: a region, block headers, size-class buckets -----------------

def heap_figure():
    fig, ax = _axes(7.6, 5.2, "a Heap region (4 MiB by default, one mapping from the OS)")
    y = 40
    parts = [("region\nheader 48", 6, HEADER), ("16", 2, HEADER), ("block 0\nused", 9, USED),
             ("16", 2, HEADER), ("block 1\nfree", 8, FREE), ("16", 2, HEADER),
             ("block 2\nused", 12, USED), ("16", 2, HEADER), ("block 3\nfree", 6, FREE),
             ("16", 2, HEADER), ("designated\nvictim (free)", 14, "#fff7bc"),
             ("end\n16", 3, HEADER)]
    x = 1
    where, headers = {}, []
    for label, w, color in parts:
        _box(ax, x, y, w, 5, label, color=color, size=6.5)
        where[label] = (x, w)
        if label == "16":
            headers.append(x)
        x += w
    _text(ax, 1, y - 1.3, "base", size=7)
    _text(ax, x, y - 1.3, "base + size", size=7, ha="right")
    _text(ax, 9.5, y + 6.2, "payloads start 64-byte aligned", size=7)

    # one header, enlarged
    hx = headers[0]
    _text(ax, 1, 31.5, "block header (16 bytes, just before each payload)", size=9,
          weight="bold")
    _box(ax, 4, 25, 16, 4, "prev_size (8 B)\nsize of the block before", color=HEADER, size=7)
    _box(ax, 20, 25, 22, 4, "size | PREV_FREE | USED (8 B)\nthis block, header included",
         color=HEADER, size=7)
    _arrow(ax, (hx + 1, y), (12, 29.2), color="#777777", ls="--")
    _text(ax, 44, 27, "sizes are multiples of 16, so the low\nbits carry the flags; every "
          "payload\nfinds its header in O(1)", size=7)

    # the buckets
    _text(ax, 1, 19.5, "size-class buckets (two-level segregated fit)", size=9,
          weight="bold")
    _text(ax, 1, 16.3, "fl_bitmap", size=7, family="monospace")
    for b in range(12):
        on = b in (0, 3, 7)
        _box(ax, 9 + b * 2, 15, 2, 2.6, "1" if on else "0", color=USED if on else FREE,
             size=6.5)
    _text(ax, 34, 16.3, "bit k set ⇔ sl_bitmap[k] ≠ 0", size=7)
    rows = [(0, "fl 0: 32..240 B, exact 16-byte classes"),
            (3, "fl 3: [1 KiB, 2 KiB), 16 subclasses"),
            (7, "fl 7: [16 KiB, 32 KiB), 16 subclasses")]
    for r, (k, label) in enumerate(rows):
        yy = 10.5 - r * 4
        _text(ax, 1, yy + 1.3, f"sl[{k}]", size=7, family="monospace")
        for s in range(16):
            on = (k, s) in ((0, 2), (3, 5), (7, 11))
            _box(ax, 6 + s * 1.5, yy, 1.5, 2.6, color=USED if on else FREE)
        _text(ax, 31, yy + 1.3, label, size=7)
    # heads point at free blocks in the region
    bx, bw = where["block 1\nfree"]
    _arrow(ax, (6 + 2 * 1.5 + 0.75, 13.1), (bx + bw / 2, y), color=USED_DARK, rad=0.35)
    bx, bw = where["block 3\nfree"]
    _arrow(ax, (6 + 5 * 1.5 + 0.75, 9.1), (bx + bw / 2, y), color=USED_DARK, rad=0.3)
    _text(ax, 1, 0.9, "a request rounds up to its class; two bit scans find the first "
          "non-empty class that fits: O(1), no list walk", size=7)
    _text(ax, 56, 12.5, "small requests split\nthe designated victim,\nkept outside the "
          "buckets", size=7)
    dx, dw = where["designated\nvictim (free)"]
    _arrow(ax, (62, 15), (dx + dw / 2, y), color="#b8860b", rad=0.2)
    return fig


# -- (c) the bump arena ----------------------------------------------------------

def bump_figure():
    fig, ax = _axes(7.6, 3.4, "a BumpAllocator: a chain of arena blocks, each twice the "
                    "one before")
    y = 19
    blocks = [("blocks[0]  4 KiB", 8, [(0, 2, "A"), (2, 1.5, "B"), (3.5, 3.5, "C")], 7),
              ("blocks[1]  8 KiB", 16, [(0, 8, "D"), (8, 4, "E")], 12),
              ("blocks[cur]  16 KiB", 26, [(0, 7, "F"), (7, 4, "G")], 11)]
    x = 1
    tops = []
    for label, w, allocs, used in blocks:
        _box(ax, x, y, w, 5, color=FREE)
        for a0, aw, name in allocs:
            _box(ax, x + a0, y, aw, 5, name, color=USED, size=8)
        if used < w and label != "blocks[cur]  16 KiB":
            _box(ax, x + used, y, w - used, 5, "wasted" if w - used > 3 else "",
                 color=WASTE, size=6.5, hatch="///")
        _text(ax, x + w / 2, y + 6.3, label, size=7, ha="center")
        tops.append((x, w, used))
        x += w + 3
    for (x0, w0, _), (x1, _, _) in itertools.pairwise(tops):
        _arrow(ax, (x0 + w0, y + 2.5), (x1, y + 2.5))
    cx, cw, cused = tops[-1]
    _arrow(ax, (cx + cused, y - 4.5), (cx + cused, y), color="#e6550d")
    _text(ax, cx + cused, y - 5.6, "top: the bump pointer", size=7, ha="center",
          color="#e6550d")
    _text(ax, cx + cw, y - 1.3, "end", size=7, ha="right")
    _box(ax, x, y, 12, 5, "cached\n(empty)", color=FREE, size=7)
    _text(ax, x + 6, y + 6.3, "after a scope rewind", size=7, ha="center")
    # a scope checkpoint
    sx = tops[1][0] + 8
    ax.plot([sx, sx], [y - 3, y + 8.5], color="#756bb1", lw=1.2, ls="--")
    _text(ax, sx + 0.5, y + 8.6, "scope() checkpoint", size=7, color="#756bb1")
    _notes(ax, [
        ("request: round top up to the alignment; if the block has room, top += nbytes "
        "(else the next block)"),
        ("release: bookkeeping only (the latest allocation rolls top back); memory returns "
        "in bulk"),
        ("leaving the scope rewinds top to the checkpoint once nothing after it is live; "
        "reset() keeps the largest block"),
    ], 9)
    return fig


# -- (d) the file of a file-backed list ------------------------------------------

def file_figure():
    fig, ax = _axes(7.6, 3.8, "a file-backed list: two header slots, then the segments "
                    "end to end")
    y = 23
    slot_w, b = 6, 5.0            # B bytes drawn 5 units wide
    _box(ax, 1, y, slot_w, 6, "slot 0\n(header)", color=HEADER, size=7)
    _box(ax, 1 + slot_w, y, slot_w, 6, "slot 1\n(header)", color=HEADER, size=7)
    x = 1 + 2 * slot_w
    labels = [("0", 1), ("2048", 1 + slot_w), ("D = 4096", x)]
    length_elems = 5.3            # the published length, in units of B
    for j in range(4):
        w = b * (1 << j)
        if x + w > 74:
            w = 74 - x
            _text(ax, x + w + 0.5, y + 3, "…", size=9)
        _box(ax, x, y, w, 6, color=FREE)
        used_w = max(0.0, min(w, (length_elems - ((1 << j) - 1)) * b))
        if used_w:
            _box(ax, x, y, used_w, 6, color=USED)
        size = f"{1 << j}B" if j else "B"
        _text(ax, x + w / 2, y + 3, f"segment {j}\n{size} bytes", size=7, ha="center")
        x += w
        if j < 3:
            labels.append((f"D+{(1 << (j + 1)) - 1}B" if j else "D+B", x))
    for text, xx in labels:
        ax.plot([xx, xx], [y - 0.3, y - 1.3], color=EDGE, lw=0.7)
        _text(ax, xx, y - 2.3, text, size=6.5, ha="center")
    lx = 1 + 2 * slot_w + length_elems * b
    _arrow(ax, (lx, y + 9), (lx, y + 6), color="#e6550d")
    _text(ax, lx, y + 10, "published length (last flush)", size=7, ha="center",
          color="#e6550d")
    _text(ax, 73, y + 7.2, "reserved with posix_fallocate", size=6.5, ha="right")
    # one slot, enlarged
    _text(ax, 1, 15.5, "one slot (2048 bytes, little-endian)", size=8, weight="bold")
    fields = [("magic\nSEGPYLST", 8), ("version\n1", 5), ("slot\nsize", 4.5),
              ("generation", 7), ("length", 6), ("itemsize", 6), ("shift", 4.5),
              ("descr\nlen", 4.5), ("data\noffset", 5.5), ("0", 2.5),
              ("dtype descr\n(ASCII)", 9), ("zero", 5), ("FNV-1a\nchecksum", 7)]
    x = 1
    for label, w in fields:
        _box(ax, x, 8, w, 5, label, color=META if label != "zero" else FREE, size=6)
        x += w
    _arrow(ax, (4, y), (4, 13.2), color="#777777", ls="--")
    _notes(ax, [
        ("flush(): sync the data, write the older slot whole with generation g + 1, "
        "fdatasync."),
        ("open: the intact slot with the higher generation wins, so a torn write never "
        "loses a flushed element."),
    ], 4.5, step=2.7)
    return fig


FIGURES = {
    "segments.svg": segments_figure,
    "heap.svg": heap_figure,
    "bump.svg": bump_figure,
    "file-layout.svg": file_figure,
}


def render(make):
    fig = make()
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files instead of writing")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in FIGURES.items():
        data = render(make)
        path = OUT / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"wrote {path}")
    if stale:
        print("stale figures (run docs/figures/make_figures.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
