"""Packaging truth: what the package imports at run time is what it declares."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import flask_dm_email

PACKAGE = Path(flask_dm_email.__file__).parent


def top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level, outside ``try`` (optional imports) and
    ``if TYPE_CHECKING``."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def declared() -> set[str]:
    requires = importlib.metadata.requires("flask-dm-email") or []
    return {
        re.split(r"[\s<>=;\[]", req, maxsplit=1)[0].lower().replace("_", "-")
        for req in requires
        if "extra ==" not in req
    }


def test_every_runtime_import_is_a_declared_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        for module in top_level_imports(path):
            if module in sys.stdlib_module_names or module in ("flask_dm_email", "__future__"):
                continue
            dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
            if not dists & declared():
                missing[module] = str(path.relative_to(PACKAGE))
    assert missing == {}


def test_one_source_for_the_version() -> None:
    assert importlib.metadata.version("flask-dm-email") == flask_dm_email.__version__
    assert "version = attr: flask_dm_email.__version__" in (PACKAGE.parent / "setup.cfg").read_text()
