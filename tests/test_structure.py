"""The core package's shape: data flows one way (no import cycles at module level), the
callback blueprint depends on the state and never on the extension, modules stay small.
(The simulator has its own structure test.)"""

from __future__ import annotations

import ast
from pathlib import Path

import flask_dm_email

from .import_graph import cycles

ROOT = Path(flask_dm_email.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py") if "simulator" not in p.relative_to(ROOT).parts)
# Importing a package from one of its own modules only runs its __init__'s re-exports.
PACKAGES = {".".join(("flask_dm_email", *p.parent.relative_to(ROOT).parts)) for p in ROOT.rglob("__init__.py")}


def module_name(path: Path) -> str:
    parts = ("flask_dm_email", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (not inside functions, which import
    late on purpose, nor under ``if TYPE_CHECKING``)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    known = {module_name(path): path for path in MODULES}
    return {
        name: {other for other in module_level_imports(path) if other in known and other != name} - PACKAGES
        for name, path in known.items()
    }


def test_there_are_no_import_cycles() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, found


def test_the_callbacks_depend_on_the_state_not_the_extension() -> None:
    imports = graph()["flask_dm_email.callback_blueprint"]
    assert "flask_dm_email.state" in imports
    assert "flask_dm_email.extension" not in imports


def test_modules_stay_small() -> None:
    large = {str(p.relative_to(ROOT)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 400}
    assert not large, large
