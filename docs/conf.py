"""Sphinx settings of the docs site. Build: ``sphinx-build -W docs docs/_build`` (see index.md)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]  # our extensions; the project from a checkout

import agentgym_envs  # noqa: E402 - after the path above

project = "AgentGym for Gymnasium"
release = version = agentgym_envs.__version__
copyright = "the AgentGym for Gymnasium authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "env_pages",
    "config_tables",
]
# notes/ are pieces the generated env pages include, not pages of their own.
exclude_patterns = ["_build", "envs/notes", "README.md"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}

# Markdown links to a heading of another page (`page.md#a-heading`) are checked: a broken one
# is a warning, and the strict build (-W) turns it into an error.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False  # Gymnasium's own docstrings are not ours to fix
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"AgentGym for Gymnasium {release}"
html_static_path: list[str] = []
