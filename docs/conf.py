"""Sphinx configuration for segpy's documentation.

Build with ``sphinx-build -W --keep-going -b html docs build/html`` after
installing segpy and its ``docs`` extra (``pip install '.[docs]'``).  The
reference is generated from the installed package's docstrings, so segpy
must be importable: the source ``segpy/`` directory holds no compiled
modules, and this file never puts the repository root on ``sys.path``.
"""

import os
from pathlib import Path

import segpy

HERE = Path(__file__).resolve().parent

project = "segpy"
author = "the segpy developers"
copyright = "the segpy developers"
release = segpy.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx_copybutton",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
templates_path = ["_templates"]
# _build: where a local `sphinx-build docs docs/_build` writes; figures/ holds
# the script that draws the figures, not pages.
exclude_patterns = ["_build", "figures", "_static/perf/table.md", "Thumbs.db", ".DS_Store"]

# Markdown pages: `#` anchors for headings down to ###, so links such as
# trust.md#hostile-objects resolve; ```{directive} fences are MyST's own.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]
# Code fences in languages Pygments may not lex strictly (Cython, shell
# sessions) must not turn into warnings: highlighting is best effort.
highlight_language = "python3"
suppress_warnings = ["misc.highlighting_failure"]

# The reference: one page per public name (docs/api.md lists them), each
# class page listing its methods and properties (see _templates/).
autosummary_generate = True
autosummary_imported_members = True
# The class template (docs/_templates/autosummary/class.rst) names each
# method and property the class itself defines; an inherited one is
# documented once, on the class that defines it.  (`:members:` is not used:
# with numpydoc loaded it silently drops methods whose docstring carries a
# hand-written signature, such as sum, min and max.)
autodoc_default_options = {}
autodoc_typehints = "none"            # signatures come from __text_signature__
numpydoc_show_class_members = False   # the class template lists them instead
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
}
# CI and sandboxed builds have no network: intersphinx is only used when
# SEGPY_DOCS_INTERSPHINX=1 (a failed fetch would be a warning, an error
# under -W).
if os.environ.get("SEGPY_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = f"segpy {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
}
html_show_sourcelink = False

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


# -- the performance page ---------------------------------------------------
#
# benchmarks/report.py --plots docs/_static/perf writes PNG plots and a
# markdown table there.  performance.md holds a marker line that is replaced
# with those files when they exist, and with how to make them when they do
# not, so the page builds without warnings either way.

PERF_DIR = HERE / "_static" / "perf"
PERF_MARKER = "<!-- perf-report -->"


def perf_report_markdown(perf_dir=PERF_DIR):
    """The markdown that stands for the marker on performance.md."""
    plots = sorted(perf_dir.glob("*.png")) if perf_dir.is_dir() else []
    table = perf_dir / "table.md"
    if not plots and not table.is_file():
        return (
            "```{note}\n"
            "No report has been generated into this build. Run\n"
            "`python benchmarks/report.py --plots docs/_static/perf` from the\n"
            "repository root (with segpy installed), then build the docs again:\n"
            "the plots and the table appear here.\n"
            "```\n"
        )
    parts = []
    if table.is_file():
        parts.append(table.read_text(encoding="utf-8").strip() + "\n")
    for png in plots:
        title = png.stem.replace("_", " ").replace("-", " ")
        parts.append(f"### {title}\n\n![{title}](_static/perf/{png.name})\n")
    return "\n".join(parts)


def _fill_performance_page(app, docname, source):
    if docname == "performance" and PERF_MARKER in source[0]:
        source[0] = source[0].replace(PERF_MARKER, perf_report_markdown())


# -- signatures -----------------------------------------------------------------
#
# numpydoc replaces autodoc's signature of a method with one rebuilt from its
# __text_signature__, which for the reductions (sum, min, max: hand-written,
# long) spans two lines; a newline inside a py:method signature makes Sphinx
# drop the whole entry without a warning.  autodoc's own signature (from
# inspect.signature, one line) is kept instead: this handler runs before
# numpydoc's, and the first handler to answer wins.

def _keep_autodoc_signature(app, what, name, obj, options, signature, return_annotation):
    if signature:
        return " ".join(signature.split()), return_annotation
    return None


def _performance_is_outdated(app, env, added, changed, removed):
    # The page's text depends on files Sphinx does not track: re-read it on
    # every build, so a new report shows without a clean build.
    return ["performance"] if "performance" in env.found_docs else []


def setup(app):
    app.connect("source-read", _fill_performance_page)
    app.connect("env-get-outdated", _performance_is_outdated)
    # Before numpydoc's own handler (priority 500).
    app.connect("autodoc-process-signature", _keep_autodoc_signature, priority=400)
