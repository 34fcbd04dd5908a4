"""The core package's shape: data flows one way (no import cycles at module level), the
callback blueprint depends on the state and never on the extension, modules stay small.
(The simulator has its own structure test.)"""

from __future__ import annotations

from pathlib import Path

import flask_dm_email

from .import_graph import cycles, imports
from .import_graph import module_name as dotted

ROOT = Path(flask_dm_email.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py") if "simulator" not in p.relative_to(ROOT).parts)
# Importing a package from one of its own modules only runs its __init__'s re-exports.
PACKAGES = {".".join(("flask_dm_email", *p.parent.relative_to(ROOT).parts)) for p in ROOT.rglob("__init__.py")}


def module_name(path: Path) -> str:
    return dotted(path, ROOT, "flask_dm_email")


def module_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (not inside functions, which import
    late on purpose, nor under ``if TYPE_CHECKING``)."""
    return imports(path, module_name(path), module_level_only=True)


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
