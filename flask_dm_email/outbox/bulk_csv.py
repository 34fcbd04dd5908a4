"""Reading a bulk send's CSV file, as spreadsheet programs write them.

UTF-8 (with or without the byte-order mark Excel's "CSV UTF-8" adds), a header line that
names the columns, blank lines skipped, commas and line breaks inside quoted fields read
as the :mod:`csv` module reads them. The file is read a line at a time (50,000 rows
never sit in memory), and every problem names its line: the header is line 1.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import EmailTemplateError

#: The column that holds the addresses unless told otherwise (``--email-column``).
DEFAULT_EMAIL_COLUMN = "email_address"


class BulkInputError(EmailTemplateError):
    """A bulk send's input cannot be used as a whole (the file, its columns or the
    template): nothing was queued from it. The message names the line or column and the fix."""


@dataclass(frozen=True)
class BulkRow:
    """One row to queue, and where it came from.

    :param line: its line in the file (the header is line 1); a row spread over several
        lines by a quoted line break has the line it starts on.
    :param values: ``{column: value}``; a column the line has no field for is None.
    :param problem: why the line cannot be read as a row (a field too many), or None.
    """

    line: int
    values: Mapping[str, str | None] = field(repr=False)
    problem: str | None = None


def _decoded(path: str, name: str) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 stops the read, by its number."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise BulkInputError(
                    f"{name}: line {number} is not UTF-8 (byte {error.start + 1} of the line). Save the file "
                    "as 'CSV UTF-8' (in Excel: Save As, then 'CSV UTF-8 (Comma delimited)'), or convert it, "
                    "e.g. iconv -f WINDOWS-1252 -t UTF-8."
                ) from None


def _header(cells: Sequence[str], name: str) -> tuple[str, ...]:
    columns = tuple(cell.strip() for cell in cells)
    for position, column in enumerate(columns, start=1):
        if not column:
            raise BulkInputError(
                f"{name}: column {position} of the header (line 1) has no name. Name every column, "
                "or remove the empty one."
            )
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise BulkInputError(
            f"{name}: the header (line 1) names {', '.join(map(repr, repeated))} more than once. "
            "Give each column its own name."
        )
    return columns


class CsvRows:
    """The rows of a CSV file, read afresh each time they are iterated.

    :attr:`columns` is the header, read (and checked) when the object is made.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = os.fspath(path)
        self.name = name or os.path.basename(self.path)
        if not os.path.isfile(self.path):
            raise BulkInputError(f"{self.path}: no such file. Check the path (it is read from {os.getcwd()}).")
        first = next(self._records(), None)
        if first is None:
            raise BulkInputError(
                f"{self.name} is empty: its first line must name the columns, e.g. "
                f"{DEFAULT_EMAIL_COLUMN},name"
            )
        self.columns = _header(first[1], self.name)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """``(line the record starts on, fields)``, blank lines left out."""
        reader = csv.reader(_decoded(self.path, self.name), strict=True)
        previous = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise BulkInputError(
                    f"{self.name}: line {previous + 1} cannot be read as CSV ({error}). A field with a "
                    "comma, a quote or a line break must be in double quotes, with any quote inside it doubled."
                ) from None
            start, previous = previous + 1, reader.line_num
            if fields and any(cell.strip() for cell in fields):
                yield start, fields

    def __iter__(self) -> Iterator[BulkRow]:
        records = self._records()
        next(records, None)  # the header, checked at __init__
        width = len(self.columns)
        for line, fields in records:
            problem = None
            if len(fields) > width:
                problem = (f"it has {len(fields)} fields but the header has {width} (put a value that "
                           "contains a comma in double quotes)")
            elif len(fields) < width:
                problem = f"it has {len(fields)} field(s) but the header has {width}"
            padded: list[str | None] = [*fields[:width], *([None] * (width - len(fields)))]
            yield BulkRow(line, dict(zip(self.columns, padded, strict=True)), problem)

    def scan(self) -> int:
        """Read the whole file once: the number of rows, or :class:`BulkInputError` for a
        line that is not UTF-8 or not CSV, before anything is queued from it."""
        return sum(1 for _ in self._records()) - 1


def read_csv(path: str | os.PathLike[str]) -> CsvRows:
    """The rows of the CSV file at ``path``, for :meth:`~flask_dm_email.outbox.Outbox.enqueue_many`.

    :raises BulkInputError: no such file, an empty file, or a header with a blank or
        repeated column name. A line that is not UTF-8 or not CSV raises it while the
        rows are read; :meth:`CsvRows.scan` finds those first.
    """
    return CsvRows(path)
