"""Sphinx configuration for flask-dm-email."""

from __future__ import annotations

project = "flask-dm-email"
copyright = "2026, the flask-dm-email authors"  # Sphinx's name for it
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
html_theme = "furo"
html_title = "flask-dm-email"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
nitpicky = False
# README sections are included with their own heading levels.
suppress_warnings = ["myst.header"]
exclude_patterns = ["_build"]
