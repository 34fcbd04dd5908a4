"""The simulator's shape: independent of the client side, no import cycles, small modules."""

from __future__ import annotations

from pathlib import Path

import flask_dm_email.simulator

from ..import_graph import cycles, imports
from ..import_graph import module_name as dotted

PACKAGE = "flask_dm_email.simulator"
ROOT = Path(flask_dm_email.simulator.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))


def module_name(path: Path) -> str:
    return dotted(path, ROOT, PACKAGE)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (functions too), as absolute names."""
    return imports(path, module_name(path), module_level_only=False)


def test_the_simulator_imports_nothing_from_the_rest_of_the_package() -> None:
    # It plays Notify: sharing validation or schemas with the client side would let one bug pass every test.
    assert MODULES, "no simulator modules found"
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in MODULES
        for name in imported_modules(path)
        if (name == "flask_dm_email" or name.startswith("flask_dm_email."))
        and not (name == PACKAGE or name.startswith(f"{PACKAGE}."))
    }
    assert not offenders, sorted(offenders)


def test_there_are_no_import_cycles() -> None:
    known = {module_name(path): path for path in MODULES}
    graph = {name: {other for other in imported_modules(path) if other in known and other != name}
             for name, path in known.items()}
    # The package's __init__ re-exports; importing it from a submodule is not a cycle worth flagging.
    graph = {name: edges - {PACKAGE} for name, edges in graph.items()}
    found = cycles(graph)
    assert not found, found


def test_modules_stay_small() -> None:
    long = {str(path.relative_to(ROOT)): count for path in MODULES
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long
