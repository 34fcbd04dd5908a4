"""Sphinx configuration for flask-dm-email."""

from __future__ import annotations

project = "flask-dm-email"
copyright = "2026, the flask-dm-email authors"  # noqa: A001 - Sphinx's name
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
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
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "flask": ("https://flask.palletsprojects.com/en/stable/", None),
}
# No network in CI: intersphinx inventories are optional.
intersphinx_disabled_reftypes = ["*"]
exclude_patterns = ["_build"]
