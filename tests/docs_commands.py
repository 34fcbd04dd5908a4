"""Finding the shell commands the docs and the README show.

A command is found in:

* a shell code block (``.. code-block:: sh``, ``console``, ``bash``; a fenced block marked
  ``sh``, ``console``, ``bash``, ``shell``): every line, or only the ``$ `` lines when
  the block shows prompts (the other lines are output);
* a plain literal block (``::``) or an unmarked fence: a line that starts with ``$ ``
  or with a command this project's docs use (``flask``, ``tox``, ``pip``, ...);
* an inline literal (````flask dm-email config````) that starts with one of those;
  ``status|list`` in one is read as "either", not as a pipe.

A command spans lines while it ends in a backslash or has a quote open; ``&&``, ``||``,
``;`` and ``|`` separate commands, ``#`` starts a comment and leading ``NAME=value``
assignments are dropped. Each command keeps the file and line it starts on.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "shell-session", "zsh"})
# The first words that make a line of a plain literal block, or an inline literal, a command.
COMMAND_WORDS = frozenset(
    {
        *("flask", "tox", "pip", "python", "python3", "pytest", "gunicorn"),
        *("curl", "apt-get", "sphinx-build", "ruff", "mypy"),
    }
)
OPERATORS = frozenset({"&&", "||", ";", "|", "&"})
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    """One simple command as the docs show it."""

    path: str
    line: int
    words: tuple[str, ...]
    # False for an inline literal, which may name a command without its arguments
    complete: bool = True

    @property
    def text(self) -> str:
        return shlex.join(self.words)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _split(source: str) -> list[list[str]] | None:
    """The simple commands in ``source``, or None while a quote is still open."""
    lexer = shlex.shlex(source, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # "No closing quotation": the command goes on on the next line
        return None
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    result = []
    for words in commands:
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words:
            result.append(words)
    return result


def _starts_a_command(text: str) -> bool:
    words = text.split()
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    return bool(words) and (words[0] in COMMAND_WORDS or words[0].startswith(".venv/bin/"))


def commands_in_block(
    path: str, lines: list[tuple[int, str]], language: str | None, *, complete: bool = True
) -> Iterator[Command]:
    """The commands in one code block, given as (line number, text) pairs; ``language`` is
    the block's (None for a plain literal block)."""
    if language is not None and language not in SHELL_LANGUAGES:
        return  # Python, JSON, text
    prompts = any(text.lstrip().startswith("$ ") for _, text in lines)
    index = 0
    while index < len(lines):
        number, text = lines[index]
        text = text.strip()
        index += 1
        if prompts:
            if not text.startswith("$ "):
                continue  # output
            text = text[2:]
        elif not text or text.startswith("#"):
            continue
        elif language not in SHELL_LANGUAGES and not _starts_a_command(text):
            continue  # Python, JSON, output or a .env line in a plain literal block
        source = text
        while True:
            split = None if source.endswith("\\") else _split(source)
            if split is not None or index >= len(lines):
                break
            source = (source[:-1] if source.endswith("\\") else source + "\n") + lines[index][1].strip()
            index += 1
        for words in split or []:
            yield Command(path, number, tuple(words), complete)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")


def _rst_blocks(lines: list[str]) -> Iterator[tuple[list[tuple[int, str]], str | None]]:
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = DIRECTIVE.match(line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        index += 1
        if not directive and not literal:
            continue
        outer = _indent(line)
        language = directive.group(2) or None if directive else None
        block: list[tuple[int, str]] = []
        while index < len(lines):
            text = lines[index]
            if text.strip() and _indent(text) <= outer:
                break
            if not (directive and not block and text.strip().startswith(":")):  # directive options
                block.append((index + 1, text))
            index += 1
        yield block, language


def _rst_inline(text: str) -> Iterator[tuple[int, str]]:
    for match in re.finditer(r"``(.+?)``", text, flags=re.S):
        yield text.count("\n", 0, match.start()) + 1, " ".join(match.group(1).split())


def _markdown_blocks(lines: list[str]) -> Iterator[tuple[list[tuple[int, str]], str | None]]:
    index = 0
    while index < len(lines):
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w-]*)", lines[index])
        index += 1
        if not fence:
            continue
        block = []
        while index < len(lines) and not lines[index].strip().startswith(fence.group(1)):
            block.append((index + 1, lines[index]))
            index += 1
        index += 1
        yield block, fence.group(2) or None


def _markdown_inline(text: str) -> Iterator[tuple[int, str]]:
    prose = re.sub(r"^\s*(```+|~~~+).*?^\s*\1", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)
    for match in re.finditer(r"(?<!`)`([^`\n]+)`(?!`)", prose):
        yield prose.count("\n", 0, match.start()) + 1, match.group(1)


def _alternatives(text: str) -> list[str]:
    """``outbox status|list`` in prose means either subcommand, not a pipe."""
    words = text.split()
    for index, word in enumerate(words):
        if re.fullmatch(r"[\w-]+(\|[\w-]+)+", word):
            return [" ".join([*words[:index], choice, *words[index + 1 :]]) for choice in word.split("|")]
    return [text]


def _inline_commands(path: str, found: Iterator[tuple[int, str]]) -> Iterator[Command]:
    for number, text in found:
        # ``flask <command>`` names a kind of command, not one to run
        if _starts_a_command(text) and "<" not in text and "..." not in text:
            for choice in _alternatives(text):
                yield from commands_in_block(path, [(number, choice)], "sh", complete=False)


def commands_in_file(path: Path, root: Path) -> list[Command]:
    """Every command ``path`` shows, in block and inline code."""
    name = path.relative_to(root).as_posix()
    text = path.read_text()
    lines = text.splitlines()
    markdown = path.suffix == ".md"
    found: list[Command] = []
    for block, language in (_markdown_blocks if markdown else _rst_blocks)(lines):
        found.extend(commands_in_block(name, block, language))
    found.extend(_inline_commands(name, (_markdown_inline if markdown else _rst_inline)(text)))
    return sorted(found, key=lambda c: c.line)


def documented_commands(root: Path) -> list[Command]:
    """The commands in the README and every page under ``docs/``."""
    paths = [root / "README.md", *sorted((root / "docs").glob("*.rst"))]
    return [command for path in paths for command in commands_in_file(path, root)]
