"""Sphinx configuration for the websockets_sync documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Document the source tree next to this file, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets_sync.version import version as _version

project = "websockets_sync"
author = "websockets_sync contributors"
copyright = "websockets_sync contributors"
version = ".".join(_version.split(".")[:2])
release = _version

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# No intersphinx: builds must work without network access.

exclude_patterns = ["_build"]

# Docstrings are Google style (STYLE.md).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}

html_theme = "alabaster"
html_title = f"websockets_sync {release}"
