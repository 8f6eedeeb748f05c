"""Recipient files as rows of text cells: CSV streamed, XLS/XLSX via calamine.

This module only turns a file into ``(row_number, cells)`` pairs; what a cell means
(a phone number, a placeholder value) is decided by the caller.

Format
    :func:`detect_format` looks at the first bytes, never at the file name: a ZIP
    container is read as XLSX, an OLE2 compound file as XLS, anything else as CSV.

Row numbers
    Every row carries the 1-based *physical* row number in the file, so a report can
    point the user at it. For CSV that is the line on which the record starts, as a
    text editor counts lines (``\\n``, ``\\r\\n`` and a lone ``\\r`` each end a line);
    a quoted cell spanning lines advances the count for the records after it. For
    Excel it is the sheet row number shown by Excel (empty rows above the data are
    counted). Completely blank rows (no cell with anything but whitespace) are never
    yielded, and ``skip_header`` drops the first non-blank row (row 1 in a normal
    file; a blank line before the header does not turn the header into data).

Cells
    Cells are ``str``, stripped of surrounding whitespace. CSV rows may be ragged.
    Excel rows all have the same width, and the column index is the sheet column
    (column A is index 0 even when calamine's data range starts further right).
    Excel values are rendered as text: integral numbers without a fraction
    (``77011234567.0`` -> ``"77011234567"``), other numbers as ``repr``, dates,
    datetimes and times in ISO 8601, booleans as ``"TRUE"``/``"FALSE"``.
    A formula cell yields the value cached in the file by the program that saved it;
    nothing is recalculated. A formula saved without a cached value (xlwt writes
    none) reads as ``""``, and calamine also reads error cells (``#N/A``,
    ``#DIV/0!``) as ``""``. Only the first worksheet is read.

Encodings (CSV only)
    ``CsvOptions.encoding`` takes a Mobizon name (:data:`ENCODINGS`, any case) or a
    Python codec name. ``None`` means: a byte-order mark decides (UTF-8, UTF-16 LE or
    BE), otherwise UTF-8. A byte-order mark is also honoured, and removed, when a
    Unicode encoding (UTF-8, UTF-16/UCS-2) is requested, since it is unambiguous;
    UCS-2/UTF-16 without a mark is read as little-endian. A legacy 8-bit encoding is
    used exactly as requested.

Memory
    CSV is decoded incrementally and parsed line by line: memory does not grow with
    the file. Excel sheets are loaded whole by calamine (then converted row by row).

Errors
    Everything that makes a file unimportable raises :class:`ImportFileError` with a
    message meant for the user: empty file or no rows, file over ``max_bytes``,
    binary content or undecodable bytes in a CSV (naming the encoding, the byte
    offset and the row), an unknown encoding, a bad delimiter or enclosure, a
    malformed CSV record, a corrupt workbook (calamine's error message is included).
    A missing or unreadable path is the caller's problem and raises ``OSError``.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

import python_calamine

log = logging.getLogger(__name__)

ENCODINGS: dict[str, str] = {
    "KOI8-R": "koi8_r",
    "CP866": "cp866",
    "WINDOWS-1252": "cp1252",
    "WINDOWS-1251": "cp1251",
    "UTF-8": "utf-8",
    "ASCII": "ascii",
    "ISO-8859-1": "latin-1",
    "UCS-2": "utf-16",
}
"""Mobizon's ``recipientsFileEncoding`` names -> Python codecs."""

Format = Literal["csv", "xls", "xlsx"]

DEFAULT_MAX_BYTES = 100 * 1024 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})
_UNICODE = _UTF16 | {"utf-8", "utf-8-sig"}  # requested encodings a byte-order mark overrides
_CHUNK = 1 << 20  # even, so UTF-16 code units are never split between chunks
_HEADER_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RECIPIENT = "recipient"

_Cell = (
    int
    | float
    | str
    | bool
    | datetime.time
    | datetime.date
    | datetime.datetime
    | datetime.timedelta
)
"""What calamine returns for a cell (an empty cell is ``""``)."""


class ImportFileError(ValueError):
    """The file cannot be imported at all (task fails with this message)."""


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """How to read a CSV file (Mobizon's ``recipientsFile*`` params).

    Only ``skip_header`` applies to Excel files.
    """

    delimiter: str = ","
    enclosure: str = "'"  # Mobizon's default quote char
    skip_header: bool = False
    encoding: str | None = None  # None = auto: BOM (UTF-8 / UTF-16 LE/BE) else UTF-8


@dataclass(frozen=True, slots=True)
class _Decoding:
    """The codec to decode with, after ``skip`` bytes of byte-order mark."""

    codec: str
    skip: int
    label: str  # for messages: what was requested or detected


def detect_format(path: Path) -> Format:
    """The file's format by its magic bytes (never by its extension)."""
    with path.open("rb") as file:
        head = file.read(len(_OLE2_MAGIC))
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head == _OLE2_MAGIC:
        return "xls"
    return "csv"


def rows(
    path: Path, options: CsvOptions = CsvOptions(), *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[int, list[str]]]:
    """The file's non-blank rows as ``(row_number, cells)``.

    The file's size, format, options and (for Excel) workbook are checked before
    this returns; problems found while reading raise from the iterator. Raises
    :class:`ImportFileError` if no row is left to yield.
    """
    records = _records(path, options, max_bytes=max_bytes)
    if options.skip_header:
        if next(records, None) is None:
            raise ImportFileError("the file has no rows")
        return _nonempty(records, "the file has no rows after the header")
    return _nonempty(records, "the file has no rows")


def template_rows(
    path: Path, options: CsvOptions, placeholders: Sequence[str]
) -> tuple[TemplateLayout, Iterator[tuple[int, list[str]]]]:
    """The header's layout and the rows under it, for a template campaign.

    The first non-blank row is always the header, whatever ``options.skip_header``.
    """
    records = _records(path, replace(options, skip_header=False))
    first = next(records, None)
    if first is None:
        raise ImportFileError("the file has no rows")
    _, header = first
    layout = TemplateLayout.from_header(header, placeholders)
    return layout, _nonempty(records, "the file has no rows after the header")


def count_rows(path: Path, options: CsvOptions = CsvOptions()) -> int | None:
    """A cheap estimate of the number of rows, for progress bars; ``None`` if unknown.

    CSV: the number of line breaks (plus one for a last line without one), counted in
    binary chunks. It is an upper bound rather than exact: blank lines and line
    breaks inside quoted cells are counted too. Excel: the height of calamine's data
    range; for XLSX the sheet's declared dimension, read without loading the sheet.
    The header row is subtracted when ``skip_header`` is set. A file that :func:`rows` would reject
    gives ``None`` (the import itself will report why).
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return 0
        kind = detect_format(path)
        if kind == "xlsx":
            declared = _xlsx_declared_height(path)
            height = declared if declared is not None else _first_sheet(path).height
        elif kind == "xls":
            height = _first_sheet(path).height
        else:
            height = _count_lines(path, _decoding(path, options.encoding))
    except ImportFileError:
        return None
    return max(0, height - 1) if options.skip_header else height


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')


def _xlsx_declared_height(path: Path) -> int | None:
    """The last row of the first worksheet's declared ``<dimension ref="A1:C200000"/>``,
    read from the start of its XML in the zip without parsing the sheet (loading it
    with calamine costs as much memory as the import itself). ``None`` if absent."""
    try:
        with zipfile.ZipFile(path) as book:
            names = sorted(
                n
                for n in book.namelist()
                if n.startswith("xl/worksheets/sheet") and n.endswith(".xml")
            )
            if not names:
                return None
            first = min(names, key=lambda n: int(re.sub(r"\D", "", n) or 0))
            with book.open(first) as sheet:
                head = sheet.read(4096)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return None
    found = _DIMENSION.search(head)
    if found is None:
        return None
    # A bare "A1" is an empty sheet or a single cell: let calamine tell (it is tiny).
    return int(found.group(1)) if found.group(1) else None


@dataclass(frozen=True, slots=True)
class TemplateLayout:
    """Which columns of a template campaign's file hold the number and the variables."""

    recipient_column: int
    placeholder_columns: dict[str, int]  # placeholder name -> column index

    @classmethod
    def from_header(cls, header: list[str], placeholders: Sequence[str]) -> TemplateLayout:
        """Map a header row: a ``recipient`` column (any case) and placeholder columns.

        Header names are trimmed; empty ones mark unnamed columns, which are ignored.
        Placeholders match names exactly (case-sensitive). Columns named after no
        placeholder are ignored; placeholders without a column are left to the caller.
        """
        names = [name.strip() for name in header]
        bad = [
            f"column {_column_label(i)} {name!r}"
            for i, name in enumerate(names)
            if name and not _HEADER_NAME.fullmatch(name)
        ]
        if bad:
            raise ImportFileError(
                "header names may only use Latin letters, digits, '_' and '-': " + ", ".join(bad)
            )
        columns: dict[str, int] = {}
        recipient: int | None = None
        for index, name in enumerate(names):
            if not name:
                continue
            if name.lower() == _RECIPIENT:
                if recipient is not None:
                    raise ImportFileError(
                        f"duplicate header {name!r}: columns {_column_label(recipient)}"
                        f" and {_column_label(index)} both name the recipient"
                    )
                recipient = index
            if name in columns:
                raise ImportFileError(
                    f"duplicate header {name!r} in columns {_column_label(columns[name])}"
                    f" and {_column_label(index)}"
                )
            columns[name] = index
        if recipient is None:
            raise ImportFileError("the header row has no 'recipient' column")
        wanted = {name: columns[name] for name in placeholders if name in columns}
        return cls(recipient_column=recipient, placeholder_columns=wanted)

    def variables(self, cells: list[str]) -> dict[str, str]:
        """Placeholder values of a row; a cell missing from a short row is absent."""
        size = len(cells)
        return {name: cells[i] for name, i in self.placeholder_columns.items() if i < size}

    def phone(self, cells: list[str]) -> str:
        """The recipient cell of a row, ``""`` if the row is too short."""
        return cells[self.recipient_column] if self.recipient_column < len(cells) else ""


# --- reading ------------------------------------------------------------------------


def _records(
    path: Path, options: CsvOptions, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with their numbers; checks everything checkable up front."""
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError("the file is empty (0 bytes)")
    if size > max_bytes:
        raise ImportFileError(f"the file is {size} bytes, over the limit of {max_bytes} bytes")
    kind = detect_format(path)
    if kind != "csv":
        return _sheet_rows(_first_sheet(path))
    _check_csv_chars(options)
    return _csv_rows(path, options, _decoding(path, options.encoding))


def _nonempty(
    records: Iterator[tuple[int, list[str]]], message: str
) -> Iterator[tuple[int, list[str]]]:
    empty = True
    for record in records:
        empty = False
        yield record
    if empty:
        raise ImportFileError(message)


def _check_csv_chars(options: CsvOptions) -> None:
    for what, char in (("delimiter", options.delimiter), ("enclosure", options.enclosure)):
        if len(char) != 1:
            raise ImportFileError(f"the {what} must be a single character, got {char!r}")
        if char in "\r\n\x00":
            raise ImportFileError(f"the {what} cannot be {char!r}")
    if options.delimiter == options.enclosure:
        raise ImportFileError(
            f"the delimiter and the enclosure must differ, both are {options.delimiter!r}"
        )


def _decoding(path: Path, encoding: str | None) -> _Decoding:
    """Which codec reads ``path``: see "Encodings" in the module docstring."""
    requested = None if encoding is None else _codec(encoding)
    if requested == "utf-8-sig":  # the mark is handled here, as for the other codecs
        requested = "utf-8"
    with path.open("rb") as file:
        head = file.read(3)
    bom = next(((mark, codec) for mark, codec in _BOMS if head.startswith(mark)), None)
    if bom is not None and (requested is None or requested in _UNICODE):
        mark, codec = bom
        return _Decoding(codec, len(mark), f"{codec} (byte-order mark)")
    if encoding is None or requested is None:
        return _Decoding("utf-8", 0, "utf-8")
    if requested == "utf-16":
        return _Decoding("utf-16-le", 0, f"{_label(encoding, requested)} without byte-order mark")
    return _Decoding(requested, 0, _label(encoding, requested))


def _label(encoding: str, codec: str) -> str:
    return codec if encoding.strip().lower() == codec else f"{encoding.strip()} ({codec})"


def _codec(encoding: str) -> str:
    """The normalised Python codec name for a Mobizon or Python encoding name."""
    name = ENCODINGS.get(encoding.strip().upper(), encoding.strip())
    try:
        info = codecs.lookup(name)
        "".encode(info.name)  # rejects non-text codecs such as rot13 or base64
    except LookupError:
        raise ImportFileError(
            f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}"
        ) from None
    return info.name


def _csv_rows(
    path: Path, options: CsvOptions, decoding: _Decoding
) -> Iterator[tuple[int, list[str]]]:
    log.debug("reading %s as CSV in %s", path, decoding.label, extra={"action": "import_read_csv"})
    with path.open("rb") as raw:
        raw.seek(decoding.skip)
        text = io.TextIOWrapper(raw, encoding=decoding.codec, errors="strict", newline="")
        reader = csv.reader(
            _lines(text, path, decoding),
            delimiter=options.delimiter,
            quotechar=options.enclosure,
            doublequote=True,
            skipinitialspace=False,
            strict=False,
        )
        ended = 0  # the line on which the previous record ended
        while True:
            try:
                record = next(reader, None)
            except csv.Error as exc:
                raise ImportFileError(
                    f"malformed CSV in the record starting on row {ended + 1}: {exc}"
                ) from None
            if record is None:
                return
            start, ended = ended + 1, reader.line_num
            cells = [cell.strip() for cell in record]
            if any(cells):
                yield start, cells


def _lines(text: Iterable[str], path: Path, decoding: _Decoding) -> Iterator[str]:
    """The text's lines, refusing NUL characters and undecodable bytes."""
    number = 0
    try:
        for line in text:
            number += 1
            if "\x00" in line:
                hint = "" if decoding.codec in _UTF16 else "; UTF-16 files need a byte-order mark"
                raise ImportFileError(
                    f"binary content (a NUL character) on row {number}: this is not a text"
                    f" file in {decoding.label}{hint}"
                )
            yield line
    except UnicodeDecodeError:
        where = _locate_undecodable(path, decoding)
        at = f"byte offset {where[0]} (row {where[1]})" if where else f"row {number + 1}"
        raise ImportFileError(
            f"cannot decode the file as {decoding.label}: invalid bytes at {at};"
            " check the file's encoding"
        ) from None


def _locate_undecodable(path: Path, decoding: _Decoding) -> tuple[int, int] | None:
    """``(byte offset, row)`` of the first byte ``decoding`` cannot decode, if any.

    A second, diagnostic pass: the text stream decodes ahead in chunks, so its error
    says neither where in the file nor on which line the bad byte is.
    """
    decoder = codecs.getincrementaldecoder(decoding.codec)(errors="strict")
    offset = decoding.skip  # file offset of the decoder's input so far
    breaks = _LineBreaks()
    with path.open("rb") as file:
        file.seek(decoding.skip)
        while True:
            chunk = file.read(_CHUNK)
            pending, flag = decoder.getstate()
            try:
                breaks.feed(decoder.decode(chunk, final=not chunk))
            except UnicodeDecodeError as exc:
                data = pending + chunk
                decoder.setstate((b"", flag))
                breaks.feed(decoder.decode(data[: exc.start]))
                return offset - len(pending) + exc.start, breaks.lines + 1
            if not chunk:
                return None
            offset += len(chunk)


class _LineBreaks:
    """Counts line breaks (``\\n``, ``\\r\\n``, lone ``\\r``) across text pieces."""

    def __init__(self) -> None:
        self.lines = 0
        self._after_cr = False

    def feed(self, text: str) -> None:
        if not text:
            return
        self.lines += text.count("\n") + text.count("\r") - text.count("\r\n")
        if self._after_cr and text.startswith("\n"):
            self.lines -= 1
        self._after_cr = text.endswith("\r")


def _count_lines(path: Path, decoding: _Decoding) -> int:
    newline, cr = "\n".encode(decoding.codec), "\r".encode(decoding.codec)
    crlf = "\r\n".encode(decoding.codec)
    lines = 0
    last = b""
    with path.open("rb") as file:
        file.seek(decoding.skip)
        while chunk := file.read(_CHUNK):
            lines += chunk.count(newline) + chunk.count(cr) - chunk.count(crlf)
            last = chunk
    if last and not (last.endswith(newline) or last.endswith(cr)):
        lines += 1
    return lines


# --- Excel --------------------------------------------------------------------------


def _first_sheet(path: Path) -> python_calamine.CalamineSheet:
    """The workbook's first worksheet, loaded; calamine errors become ImportFileError."""
    try:
        with python_calamine.CalamineWorkbook.from_path(path) as workbook:
            index = next(
                (
                    i
                    for i, meta in enumerate(workbook.sheets_metadata)
                    if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
                ),
                None,
            )
            if index is None:
                raise ImportFileError("the workbook has no worksheet")
            return workbook.get_sheet_by_index(index)
    except python_calamine.CalamineError as exc:
        raise ImportFileError(f"cannot read the file as an Excel workbook: {exc}") from None


def _sheet_rows(sheet: python_calamine.CalamineSheet) -> Iterator[tuple[int, list[str]]]:
    start = sheet.start
    if start is None:  # an empty sheet: calamine has no range at all
        return
    padding = [""] * start[1]
    # iter_rows() yields the empty rows above the data range too, so the position is
    # the sheet row; it does not yield the empty columns left of it, hence `padding`.
    for number, values in enumerate(sheet.iter_rows(), start=1):
        cells = [_cell_text(value) for value in values]
        if any(cells):
            yield number, padding + cells


def _cell_text(value: _Cell) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime.timedelta):
        return str(value)
    return value.isoformat()


def _number_text(value: float) -> str:
    if not value.is_integer():
        return repr(value)  # also nan and inf, which Excel cannot store anyway
    if value == 0:
        return "0"  # not "-0"
    # Through the shortest repr, so 1.2345678901234567e+19 gains no invented digits.
    return format(Decimal(repr(value)).to_integral_value(), "f")


def _column_label(index: int) -> str:
    """Spreadsheet-style column name for messages: 0 -> "A", 27 -> "AB"."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label
