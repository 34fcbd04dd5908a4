"""Every shell command the README and the docs show can be run in a fresh clone.

Each command found by :mod:`tests.docs_commands` is checked without running it:

* its executable is a known system tool, or is installed in the virtualenv by the
  project's own dependencies or an extra the docs install (``pip install -e '.[dev]'``),
  so a command the docs name cannot need a package no extra brings;
* ``flask ... <command> [options]`` names a real command, and click parses its options
  (the command path is resolved as ``flask`` does, then each command's context is made
  without invoking it). Without ``--app`` the docs mean the example app;
* ``tox -e <env>`` names an env of ``tox.ini``;
* ``pip install`` names real extras of ``setup.cfg``, or a package the project depends on;
* ``python -m <module>`` names an importable module from those same packages, whose
  ``--help`` lists the options used; ``python -c`` code compiles.

A failure names the file and line of the command and what is wrong with it.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import sysconfig
from functools import cache
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import click
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.docs_commands import Command, commands_in_block, commands_in_file, documented_commands

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "flask-dm-email"
SCRIPTS = Path(sysconfig.get_path("scripts"))
# Tools the docs expect the machine to have, outside the virtualenv.
SYSTEM_TOOLS = frozenset({"python3", "curl", "apt-get", "git", "sh", "cp"})
# What ``python3 -m venv`` itself puts in a virtualenv.
VENV_TOOLS = frozenset({"python", "python3", "pip", "pip3"})
DOCS_APP = "example_app"
NOT_INSTALLED = "which no documented extra installs (add it to 'dev' in setup.cfg)"

COMMANDS = documented_commands(ROOT)


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def tox_ini() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def project_extras() -> dict[str, list[Requirement]]:
    section = setup_cfg()["options.extras_require"]
    return {name: [Requirement(line) for line in _lines(value)] for name, value in section.items()}


def project_requirements(extras: frozenset[str]) -> list[Requirement]:
    base = [Requirement(line) for line in _lines(setup_cfg()["options"]["install_requires"])]
    return base + [req for extra in sorted(extras) for req in project_extras().get(extra, [])]


@cache
def installed_by(extras: frozenset[str], deps: tuple[str, ...] = ()) -> frozenset[str]:
    """The distributions ``pip install -e '.[extras]'`` (plus ``deps``) brings in."""
    todo = [(req.name, frozenset(req.extras)) for req in project_requirements(extras)]
    todo += [(Requirement(dep).name, frozenset(Requirement(dep).extras)) for dep in deps]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted | {""}):
                todo.append((req.name, frozenset(req.extras)))
    return frozenset(name for name, _ in seen) | {PROJECT}


@cache
def script_owners() -> dict[str, str]:
    """Which distribution installed each script of the virtualenv."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for entry in dist.entry_points.select(group="console_scripts"):
            owners[entry.name] = name
        for file in dist.files or []:
            if file.parent.name == "bin" or file.parent.name == "Scripts":
                owners.setdefault(file.name, name)
    return owners


def documented_extras() -> frozenset[str]:
    """The extras of this project that some documented ``pip install`` names."""
    extras: set[str] = set()
    for command in COMMANDS:
        if Path(command.words[0]).name == "pip":
            for target in _pip_targets(command.words[1:]):
                project, names = _project_extras_of(target)
                if project:
                    extras |= names
    return frozenset(extras)


def _pip_targets(args: tuple[str, ...]) -> list[str]:
    if not args or args[0] != "install":
        return []
    targets, rest = [], list(args[1:])
    while rest:
        arg = rest.pop(0)
        if arg in ("-e", "--editable"):
            targets.append(rest.pop(0) if rest else "")
        elif arg in ("-r", "--requirement", "-c", "--constraint"):
            rest.pop(0) if rest else None
        elif not arg.startswith("-"):
            targets.append(arg)
    return targets


def _project_extras_of(target: str) -> tuple[bool, frozenset[str]]:
    local = re.fullmatch(r"\.(?:\[([^\]]*)\])?", target)
    if local:
        return True, frozenset(e.strip() for e in (local.group(1) or "").split(",") if e.strip())
    try:
        req = Requirement(target)
    except ValueError:
        return False, frozenset()
    return canonicalize_name(req.name) == PROJECT, frozenset(req.extras)


def check_pip(args: tuple[str, ...]) -> str | None:
    if not args or args[0] != "install":
        return f"only 'pip install' is expected in the docs, not 'pip {' '.join(args)}'"
    declared = {canonicalize_name(req.name) for req in project_requirements(frozenset(project_extras()))}
    for target in _pip_targets(args):
        project, extras = _project_extras_of(target)
        if project:
            unknown = sorted(extras - set(project_extras()))
            if unknown:
                defined = sorted(project_extras())
                return f"{target!r} names extras {unknown} that setup.cfg does not define (it has {defined})"
            continue
        try:
            name = canonicalize_name(Requirement(target).name)
        except ValueError:
            return f"{target!r} is not a requirement pip understands"
        if name not in declared:
            return f"{target!r} is not a dependency of {PROJECT}: add it to an extra in setup.cfg and install the extra"
    return None


def tox_envs() -> set[str]:
    config = tox_ini()
    envs = set(re.split(r"[\s,]+", config["tox"]["envlist"].strip()))
    return envs | {section.split(":", 1)[1] for section in config.sections() if section.startswith("testenv:")}


def check_tox(args: tuple[str, ...]) -> str | None:
    wanted = []
    for index, arg in enumerate(args):
        if arg in ("-e", "--env"):
            wanted += args[index + 1].split(",") if index + 1 < len(args) else [""]
        elif arg.startswith("-e") and len(arg) > 2:
            wanted += arg[2:].split(",")
    envs = tox_envs()
    for env in wanted:
        if env not in envs and not re.fullmatch(r"py3\d*", env):
            return f"tox.ini has no env {env!r} (it has {sorted(envs)})"
    return None


@cache
def module_help(module: str) -> str:
    run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    return run.stdout + run.stderr


def _distribution_problem(module: str) -> str | None:
    top = module.split(".")[0]
    if find_spec(top) is None:
        return f"no module named {top!r} is installed"
    owners = {canonicalize_name(d) for d in metadata.packages_distributions().get(top, [])}
    available = installed_by(documented_extras())
    if owners and not owners & available and top not in ("pip", "venv"):
        return f"{module!r} comes from {sorted(owners)}, {NOT_INSTALLED}"
    return None


def check_python(args: tuple[str, ...]) -> str | None:
    if args[:1] == ("-c",) and len(args) > 1:
        try:
            compile(args[1], "<docs>", "exec")
        except SyntaxError as error:
            return f"the Python code does not compile: {error}"
        return None
    if args[:1] == ("-m",) and len(args) > 1:
        module = args[1]
        problem = _distribution_problem(module) or (None if find_spec(module) else f"no module named {module!r}")
        if problem:
            return problem
        options = [arg.split("=")[0] for arg in args[2:] if arg.startswith("--")]
        missing = [option for option in options if option not in module_help(module)]
        return f"'python -m {module} --help' lists no {', '.join(missing)}" if missing else None
    if args and not args[0].startswith("-") and not (ROOT / args[0]).exists():
        return f"no script {args[0]!r} in the repository"
    return None


def _rest(ctx: click.Context) -> list[str]:
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:  # click < 8.2
        protected = ctx.protected_args
    return [*protected, *ctx.args]


def _walk(group: click.Group, ctx: click.Context) -> None:
    name, command, rest = group.resolve_command(ctx, _rest(ctx))
    assert command is not None and name is not None
    with command.make_context(name, rest, parent=ctx) as sub:
        if isinstance(command, click.Group) and _rest(sub):
            _walk(command, sub)


def check_flask(args: tuple[str, ...], complete: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str | None:
    """Resolve the command and parse its options as ``flask`` would, without running it.
    Prose may name a command without the arguments it needs (``complete`` is False)."""
    from flask.cli import cli

    if not args:
        return None
    saved = dict(os.environ)
    monkeypatch.chdir(ROOT)
    os.environ.update(
        FLASK_SKIP_DOTENV="1",  # the developer's .env is not the docs'
        EXAMPLE_EMBEDDED_SIMULATOR="false",  # loading the example app starts no server
        DATABASE_URL=f"sqlite:///{tmp_path / 'example.db'}",
    )
    if "--app" not in args and not any(a.startswith("--app=") for a in args):
        os.environ["FLASK_APP"] = DOCS_APP
    try:
        with cli.make_context("flask", list(args)) as ctx:
            _walk(cli, ctx)
    except click.exceptions.Exit:
        return None
    except click.MissingParameter as error:
        named_only = not complete and isinstance(error.param, click.Argument)
        return None if named_only else f"flask says: {error.format_message()}"
    except click.ClickException as error:
        return f"flask says: {error.format_message()}"
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return None


def check(command: Command, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str | None:
    """What is wrong with ``command``, or None."""
    executable, args = command.words[0], command.words[1:]
    name = Path(executable).name
    if executable.startswith(".venv/bin/") or name not in SYSTEM_TOOLS:
        if not (SCRIPTS / name).exists():
            return f"{name!r} is not in the virtualenv and is not a known system tool"
        owner = script_owners().get(name)
        if name not in VENV_TOOLS and owner not in installed_by(documented_extras()):
            return f"{name!r} comes from {owner!r}, {NOT_INSTALLED}"
    if name == "flask":
        return check_flask(args, command.complete, monkeypatch, tmp_path)
    if name == "tox":
        return check_tox(args)
    if name in ("pip", "pip3"):
        return check_pip(args)
    if name in ("python", "python3"):
        return check_python(args)
    return None


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where} {c.text}" for c in COMMANDS])
def test_documented_command_can_run(command: Command, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    problem = check(command, monkeypatch, tmp_path)
    assert problem is None, f"{command.where}: `{command.text}`: {problem}"


def test_the_docs_show_the_commands_a_newcomer_runs() -> None:
    """The extraction finds the commands (a broken extractor would pass every check)."""
    found = {c.text for c in COMMANDS}
    for expected in (
        "python3 -m venv .venv",
        ".venv/bin/pip install -q -e '.[dev]'",
        ".venv/bin/flask --app example_app run",
        ".venv/bin/flask --app example_app demo",
        "tox -e docs",
        "flask dm-email worker --threads 4",
        "flask --app yourapp dm-email simulator",
        "flask dm-email outbox purge",
    ):
        assert expected in found
    assert {c.path for c in COMMANDS} >= {"README.md", "docs/example.rst", "docs/outbox.rst", "docs/simulator.rst"}


#: The distribution of each tool a tox env may run that the dev extra does not install.
TOOLS_NOT_INSTALLED_HERE = {"sphinx-build": "sphinx"}


def test_every_tox_env_can_run() -> None:
    """Each env's extras exist, and its commands come from what it installs."""
    config, extras = tox_ini(), set(project_extras())
    for section in config.sections():
        if not section.startswith("testenv"):
            continue
        env = config[section]
        wanted = frozenset(re.split(r"[\s,]+", env.get("extras", config["testenv"].get("extras", "")).strip())) - {""}
        assert wanted <= extras, f"tox.ini [{section}] extras {sorted(wanted - extras)} are not in setup.cfg"
        deps = tuple(_lines(env.get("deps", "")))
        available = installed_by(frozenset() if env.get("skip_install") == "true" else wanted, deps)
        if env.get("skip_install") == "true":
            available = available - {PROJECT} | {canonicalize_name(Requirement(d).name) for d in deps}
        # What the env declares, for a tool whose extra is not installed in this venv (CI
        # runs the tests with the dev extra only, and installs docs afterwards).
        declared = {canonicalize_name(r.name) for r in project_requirements(wanted)}
        declared |= {canonicalize_name(Requirement(d).name) for d in deps}
        for line in _lines(env.get("commands", config["testenv"]["commands"])):
            tool = line.split()[0]
            owner = script_owners().get(tool) or TOOLS_NOT_INSTALLED_HERE.get(tool)
            problem = f"tox.ini [{section}]: {tool!r} is installed by none of its extras or deps"
            assert owner in available or owner in declared, problem


def _problems_in(text: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    page = tmp_path / name
    page.write_text(text)
    found = commands_in_file(page, tmp_path)
    return [f"{c.where}: {problem}" for c in found if (problem := check(c, monkeypatch, tmp_path))]


def test_a_bad_command_is_reported_with_its_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = """Title
=====

Run it::

    flask --app example_app dm-email config

.. code-block:: sh

   flask dm-email worker --threads 4 \\
       --no-such-option
   .venv/bin/pip install -e '.[dev,nonesuch]'
   tox -e nonesuch

and ``flask dm-email send-it`` and
``flask dm-email outbox status|sideways``.
"""
    problems = _problems_in(page, "page.rst", tmp_path, monkeypatch)
    assert len(problems) == 5, problems
    assert problems[0].startswith("page.rst:10: flask says: No such option") and "--no-such-option" in problems[0]
    assert problems[1].startswith("page.rst:12: '.[dev,nonesuch]' names extras ['nonesuch']")
    assert problems[2].startswith("page.rst:13: tox.ini has no env 'nonesuch'")
    assert problems[3].startswith("page.rst:15: flask says: No such command 'send-it'")
    # status|sideways: 'status' passes, 'sideways' does not
    assert problems[4].startswith("page.rst:16: flask says: No such command 'sideways'")


def test_markdown_blocks_prompts_and_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = """# Title

```console
$ tox -e nonesuch  # a comment
some output
$ flask dm-email config --json
```

```python
flask = "not a command"
```

Then `tox -e style`.
"""
    problems = _problems_in(page, "README.md", tmp_path, monkeypatch)
    assert [p.split(":")[1] for p in problems] == ["4", "6"], problems
    assert "no env 'nonesuch'" in problems[0]
    assert "No such option" in problems[1] and "--json" in problems[1]


def test_a_command_spans_lines_while_a_quote_is_open() -> None:
    lines = [(1, "curl -d '{\"a\": 1,"), (2, "  \"b\": 2}' http://x && tox -e docs"), (3, "X=1 Y=2 flask run")]
    found = list(commands_in_block("f", lines, "sh"))
    assert [(c.line, c.words) for c in found] == [
        (1, ("curl", "-d", '{"a": 1,\n"b": 2}', "http://x")),
        (1, ("tox", "-e", "docs")),
        (3, ("flask", "run")),
    ]

