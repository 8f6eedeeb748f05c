"""Recipient file readers: real CSV/XLS/XLSX files written to tmp_path and read back."""

from __future__ import annotations

import csv
import datetime
import io
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
import xlwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarion.imports.readers import (
    ENCODINGS,
    CsvOptions,
    ImportFileError,
    TemplateLayout,
    count_rows,
    detect_format,
    rows,
    template_rows,
)

Rows = list[tuple[int, list[str]]]


def write(tmp_path: Path, data: bytes | str, name: str = "recipients.csv") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def read(path: Path, **options: Any) -> Rows:
    return list(rows(path, CsvOptions(**options)))


# --- encodings ----------------------------------------------------------------------

# Mobizon name -> (sample text the codec can encode, how the test writes the file)
SAMPLES: dict[str, tuple[str, str]] = {
    "KOI8-R": ("Жанна Привет", "koi8_r"),
    "CP866": ("Жанна Привет", "cp866"),
    "WINDOWS-1251": ("Жанна Привет", "cp1251"),
    "WINDOWS-1252": ("Zoë Café", "cp1252"),
    "ISO-8859-1": ("Zoë Café", "latin-1"),
    "ASCII": ("Zoe Cafe", "ascii"),
    "UTF-8": ("Жанна Zoë 日本", "utf-8"),
    "UCS-2": ("Жанна Zoë 日本", "utf-16"),  # Python's utf-16 writes a byte-order mark
}


def test_samples_cover_every_mobizon_encoding() -> None:
    assert set(SAMPLES) == set(ENCODINGS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("spelling", [str.upper, str.lower])
def test_every_mobizon_encoding_reads_its_text(
    tmp_path: Path, name: str, spelling: Callable[[str], str]
) -> None:
    sample, codec = SAMPLES[name]
    text = f"77011234567,{sample}\r\n77017654321,'{sample}, jr'\r\n"
    path = write(tmp_path, text.encode(codec))
    assert read(path, encoding=spelling(name)) == [
        (1, ["77011234567", sample]),
        (2, ["77017654321", f"{sample}, jr"]),
    ]


@pytest.mark.parametrize("codec", ["cp1251", "koi8_r", "latin-1", "utf_16", "windows-1251"])
def test_python_codec_names_are_accepted(tmp_path: Path, codec: str) -> None:
    sample = "Zoë" if codec == "latin-1" else "Жанна"
    path = write(tmp_path, f"1,{sample}\n".encode(codec))
    assert read(path, encoding=codec) == [(1, ["1", sample])]


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"\xef\xbb\xbf" + "1,Жанна\n2,Zoë\n".encode(), "UTF-8 BOM"),
        (b"\xff\xfe" + "1,Жанна\n2,Zoë\n".encode("utf-16-le"), "UTF-16 LE BOM"),
        (b"\xfe\xff" + "1,Жанна\n2,Zoë\n".encode("utf-16-be"), "UTF-16 BE BOM"),
        ("1,Жанна\n2,Zoë\n".encode(), "UTF-8 without BOM"),
    ],
)
def test_auto_detection_by_byte_order_mark(tmp_path: Path, data: bytes, label: str) -> None:
    path = write(tmp_path, data)
    assert read(path) == [(1, ["1", "Жанна"]), (2, ["2", "Zoë"])], label


def test_ucs2_without_byte_order_mark_is_little_endian(tmp_path: Path) -> None:
    path = write(tmp_path, "1,Жанна\n".encode("utf-16-le"))
    assert read(path, encoding="UCS-2") == [(1, ["1", "Жанна"])]
    assert read(path, encoding="utf-16") == [(1, ["1", "Жанна"])]


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_ucs2_with_byte_order_mark_follows_the_mark(tmp_path: Path, bom: bytes) -> None:
    codec = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
    path = write(tmp_path, bom + "1,Жанна\n".encode(codec))
    assert read(path, encoding="UCS-2") == [(1, ["1", "Жанна"])]


def test_byte_order_mark_wins_over_requested_utf8(tmp_path: Path) -> None:
    # Excel's "Unicode text" export is UTF-16 with a mark; Mobizon's default is UTF-8.
    path = write(tmp_path, b"\xff\xfe" + "1\tЖанна\r\n".encode("utf-16-le"))
    assert read(path, encoding="UTF-8", delimiter="\t") == [(1, ["1", "Жанна"])]


def test_legacy_encoding_is_used_as_requested_even_after_a_utf8_mark(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + "1,Жанна\n".encode("cp1251"))
    # the mark's bytes are cp1251 letters; the explicit choice is honoured
    assert read(path, encoding="WINDOWS-1251") == [(1, ["п»ї1", "Жанна"])]


# --- CSV syntax ---------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("enclosure", ["'", '"'])
def test_delimiters_and_enclosures(tmp_path: Path, delimiter: str, enclosure: str) -> None:
    d, q = delimiter, enclosure
    text = (
        f"{q}77011234567{q}{d}{q}Smith{d} John{q}{d}{q}it{q}{q}s{q}\n"
        f"77017654321{d}plain{d}{q}{q}\n"
        f"77010000000{d}O{q}Brien\n"
    )
    path = write(tmp_path, text)
    assert read(path, delimiter=d, enclosure=q) == [
        (1, ["77011234567", f"Smith{d} John", f"it{q}s"]),
        (2, ["77017654321", "plain", ""]),
        (3, ["77010000000", f"O{q}Brien"]),  # a quote inside an unquoted cell is literal
    ]


def test_default_enclosure_is_single_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "1,'a,b',\"c\"\n")
    assert read(path) == [(1, ["1", "a,b", '"c"'])]


def test_cells_are_stripped_and_rows_may_be_ragged(tmp_path: Path) -> None:
    path = write(tmp_path, "  77011234567 ,  Zoë  \n77017654321\n1,2,3,4\n")
    assert read(path) == [
        (1, ["77011234567", "Zoë"]),
        (2, ["77017654321"]),
        (3, ["1", "2", "3", "4"]),
    ]


def test_skip_header_drops_the_first_row(tmp_path: Path) -> None:
    path = write(tmp_path, "phone,name\n77011234567,Ann\n77017654321,Bob\n")
    assert read(path, skip_header=True) == [
        (2, ["77011234567", "Ann"]),
        (3, ["77017654321", "Bob"]),
    ]
    assert read(path)[0] == (1, ["phone", "name"])


def test_skip_header_drops_the_first_non_blank_row(tmp_path: Path) -> None:
    path = write(tmp_path, "\nphone\n77011234567\n")
    assert read(path, skip_header=True) == [(3, ["77011234567"])]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_blank_rows_are_skipped_and_numbers_stay_physical(tmp_path: Path, newline: str) -> None:
    lines = ["", "77011234567", "   ", ",,", " ; ,", "77017654321", "", ""]
    path = write(tmp_path, newline.join(lines))
    assert read(path) == [(2, ["77011234567"]), (5, [";", ""]), (6, ["77017654321"])]


def test_multi_line_cell_reports_the_line_where_the_record_starts(tmp_path: Path) -> None:
    text = "77011234567,one\n77017654321,'two\nlines\r\nand three'\n\n77010000000,after\n"
    path = write(tmp_path, text)
    assert read(path) == [
        (1, ["77011234567", "one"]),
        (2, ["77017654321", "two\nlines\r\nand three"]),
        (6, ["77010000000", "after"]),
    ]


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "1\n2")
    assert read(path) == [(1, ["1"]), (2, ["2"])]


csv_cell = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.lists(st.lists(csv_cell, min_size=1, max_size=4), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    enclosure=st.sampled_from(["'", '"']),
    # Python 3.11's writer only quotes a cell holding a character of its line
    # terminator, so "\n" endings need QUOTE_ALL for a "\r" in a cell to stay quoted.
    style=st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]),
)
def test_csv_round_trip(
    tmp_path: Path,
    table: list[list[str]],
    delimiter: str,
    enclosure: str,
    style: tuple[str, int],
) -> None:
    """Whatever csv.writer writes comes back stripped, numbered by its first line."""
    terminator, quoting = style
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=delimiter, quotechar=enclosure, lineterminator=terminator, quoting=quoting
    )
    expected: Rows = []
    line = 1
    for record in table:
        before = out.tell()
        writer.writerow(record)
        written = out.getvalue()[before:]
        cells = [cell.strip() for cell in record]
        if any(cells):
            expected.append((line, cells))
        line += written.count("\n") + written.count("\r") - written.count("\r\n")
    path = write(tmp_path, out.getvalue().encode())
    options = CsvOptions(delimiter=delimiter, enclosure=enclosure)
    if expected:
        assert list(rows(path, options)) == expected
    else:
        with pytest.raises(ImportFileError, match="no rows"):
            list(rows(path, options))


# --- Excel --------------------------------------------------------------------------


def test_xls_cells(tmp_path: Path) -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Recipients")
    sheet.write(1, 1, "recipient")
    sheet.write(1, 2, "name")
    sheet.write(2, 1, 77011234567.0)
    sheet.write(2, 2, "  Жанна  ")
    sheet.write(3, 1, 77017654321)
    sheet.write(3, 3, 2.5)
    sheet.write(5, 1, "77010000000")
    sheet.write(5, 2, True)
    sheet.write(5, 3, datetime.date(2024, 3, 1), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    book.add_sheet("Other").write(0, 0, "ignored")
    path = tmp_path / "recipients.xls"
    book.save(str(path))

    assert detect_format(path) == "xls"
    assert list(rows(path)) == [
        (2, ["", "recipient", "name", ""]),  # column A is empty but keeps index 0
        (3, ["", "77011234567", "Жанна", ""]),
        (4, ["", "77017654321", "", "2.5"]),
        (6, ["", "77010000000", "TRUE", "2024-03-01"]),
    ]
    assert next(rows(path, CsvOptions(skip_header=True))) == (3, ["", "77011234567", "Жанна", ""])
    assert count_rows(path) == 5  # calamine's range: rows 2..6


def test_xlsx_cells_and_formula_cached_values(tmp_path: Path) -> None:
    path = tmp_path / "recipients.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["recipient", "amount", "when", "flag"])
    sheet.write_number(1, 0, 77011234567)
    sheet.write_number(1, 1, 1234.5)
    sheet.write_datetime(
        1,
        2,
        datetime.datetime(2024, 3, 1, 9, 30),
        book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
    )
    sheet.write_boolean(1, 3, False)
    sheet.write_formula(2, 0, "=77017654320+1", None, 77017654321)
    sheet.write_formula(2, 1, '="Zoë"&""', None, "Zoë")
    sheet.write_formula(2, 2, "=1/0", None, "#DIV/0!")  # an error cell
    sheet.write_string(4, 0, "   ")  # whitespace only: blank
    sheet.write(5, 0, "77010000000")
    sheet.write_number(5, 1, 1e20)
    sheet.write_number(5, 2, -0.0)
    book.add_worksheet().write(0, 0, "second sheet")
    book.close()

    assert detect_format(path) == "xlsx"
    assert list(rows(path)) == [
        (1, ["recipient", "amount", "when", "flag"]),
        (2, ["77011234567", "1234.5", "2024-03-01T09:30:00", "FALSE"]),
        (3, ["77017654321", "Zoë", "", ""]),  # cached values; calamine reads errors as ""
        (6, ["77010000000", "100000000000000000000", "0", ""]),
    ]
    assert count_rows(path) == 6
    assert count_rows(path, CsvOptions(skip_header=True)) == 5


def test_xlsx_first_worksheet_is_read_even_after_a_chart_sheet(tmp_path: Path) -> None:
    path = tmp_path / "chart.xlsx"
    book = xlsxwriter.Workbook(str(path))
    chartsheet = book.add_chartsheet("Chart")
    data = book.add_worksheet("Data")
    data.write_column(0, 0, [77011234567, 77017654321])
    chart = book.add_chart({"type": "line"})
    chart.add_series({"values": "=Data!$A$1:$A$2"})
    chartsheet.set_chart(chart)
    book.add_worksheet("Later").write(0, 0, "ignored")
    book.close()
    assert list(rows(path)) == [(1, ["77011234567"]), (2, ["77017654321"])]


def test_format_is_detected_by_content_not_name(tmp_path: Path) -> None:
    xlsx = tmp_path / "really-xlsx.csv"
    book = xlsxwriter.Workbook(str(xlsx))
    book.add_worksheet().write_column(0, 0, ["77011234567", 77017654321])
    book.close()
    xls = tmp_path / "really-xls.txt"
    old = xlwt.Workbook()
    old.add_sheet("s").write(0, 0, 77011234567.0)
    old.save(str(xls))
    text = write(tmp_path, "77011234567\n", name="list.xlsx")

    assert (detect_format(xlsx), detect_format(xls), detect_format(text)) == ("xlsx", "xls", "csv")
    assert list(rows(xlsx)) == [(1, ["77011234567"]), (2, ["77017654321"])]
    assert list(rows(xls)) == [(1, ["77011234567"])]
    assert list(rows(text)) == [(1, ["77011234567"])]


def test_empty_workbook_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet()
    book.close()
    with pytest.raises(ImportFileError, match="no rows"):
        list(rows(path))
    assert count_rows(path) == 0


# --- template campaigns -------------------------------------------------------------


def test_layout_maps_recipient_and_used_placeholders() -> None:
    layout = TemplateLayout.from_header(
        [" name ", "Recipient", "unused", "code-2", "", "city_1"], ["name", "code-2", "absent"]
    )
    assert layout == TemplateLayout(1, {"name": 0, "code-2": 3})
    cells = ["Ann", "77011234567", "x", "A-7", "", "Almaty"]
    assert layout.phone(cells) == "77011234567"
    assert layout.variables(cells) == {"name": "Ann", "code-2": "A-7"}


def test_layout_placeholders_match_case_exactly() -> None:
    layout = TemplateLayout.from_header(["RECIPIENT", "Name"], ["name", "Name"])
    assert layout == TemplateLayout(0, {"Name": 1})


def test_layout_ragged_rows_leave_keys_absent() -> None:
    layout = TemplateLayout.from_header(["name", "recipient", "city"], ["name", "city"])
    assert layout.variables(["Ann", "77011234567"]) == {"name": "Ann"}
    assert layout.variables(["Ann", "77011234567", ""]) == {"name": "Ann", "city": ""}
    assert layout.phone(["Ann"]) == ""
    assert layout.variables([]) == {}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["recipient", "name", "name"], r"duplicate header 'name' in columns B and C"),
        (["Recipient", "x", "recipient"], r"duplicate header 'recipient': columns A and C"),
        (["recipient", "имя"], r"Latin letters.*column B 'имя'"),
        (["recipient", "first name", "ok", "a.b"], r"column B 'first name', column D 'a.b'"),
        (["phone", "name"], r"no 'recipient' column"),
        ([], r"no 'recipient' column"),
    ],
)
def test_layout_errors(header: list[str], message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        TemplateLayout.from_header(header, ["name"])


@pytest.mark.parametrize("skip_header", [False, True])
def test_template_rows_always_take_the_header(tmp_path: Path, skip_header: bool) -> None:
    text = "recipient;name;city\n77011234567;Ann;Almaty\n\n77017654321;Bob\n"
    path = write(tmp_path, text)
    layout, body = template_rows(
        path, CsvOptions(delimiter=";", skip_header=skip_header), ["name", "city"]
    )
    assert layout == TemplateLayout(0, {"name": 1, "city": 2})
    assert [(n, layout.phone(c), layout.variables(c)) for n, c in body] == [
        (2, "77011234567", {"name": "Ann", "city": "Almaty"}),
        (4, "77017654321", {"name": "Bob"}),
    ]


def test_template_rows_from_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["code", "recipient"])
    sheet.write_row(1, 0, [42, 77011234567])
    book.close()
    layout, body = template_rows(path, CsvOptions(), ["code"])
    assert [(n, layout.phone(c), layout.variables(c)) for n, c in body] == [
        (2, "77011234567", {"code": "42"})
    ]


def test_template_rows_errors_early(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no 'recipient' column"):
        template_rows(write(tmp_path, "phone\n1\n"), CsvOptions(), [])
    header_only = write(tmp_path, "recipient,name\n", name="header.csv")
    layout, body = template_rows(header_only, CsvOptions(), ["name"])
    assert layout.recipient_column == 0
    with pytest.raises(ImportFileError, match="no rows after the header"):
        list(body)


# --- files that cannot be imported --------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"empty \(0 bytes\)"):
        rows(write(tmp_path, b""))
    assert count_rows(write(tmp_path, b"")) == 0


def test_only_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "\n  \r\n,,\n\n")
    with pytest.raises(ImportFileError, match="no rows"):
        list(rows(path))


def test_header_only_with_skip_header(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no rows after the header"):
        list(rows(write(tmp_path, "phone\n\n"), CsvOptions(skip_header=True)))


def test_nul_bytes_are_binary_content(tmp_path: Path) -> None:
    path = write(tmp_path, b"77011234567\n7701\x00\x00\x01\x02\n")
    with pytest.raises(ImportFileError, match=r"binary content.* row 2"):
        list(rows(path))


def test_random_binary_garbage(tmp_path: Path) -> None:
    garbage = bytes((i * 151 + 7) % 256 for i in range(4096))
    with pytest.raises(ImportFileError, match=r"binary content|cannot decode"):
        list(rows(write(tmp_path, garbage)))


def test_utf16_without_mark_read_as_utf8_hints_at_the_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "1,Zoe\n".encode("utf-16-le"))
    with pytest.raises(ImportFileError, match=r"binary content.*byte-order mark"):
        list(rows(path))


def test_cp1251_read_as_utf8_names_encoding_offset_and_row(tmp_path: Path) -> None:
    path = write(tmp_path, "77011234567,Ann\n77017654321,Жанна\n".encode("cp1251"))
    with pytest.raises(ImportFileError) as error:
        list(rows(path, CsvOptions(encoding="UTF-8")))
    assert str(error.value) == (
        "cannot decode the file as utf-8: invalid bytes at byte offset 28 (row 2);"
        " check the file's encoding"
    )
    with pytest.raises(ImportFileError, match=r"as utf-8: .*offset 28 \(row 2\)"):
        list(rows(path))  # auto-detection falls back to UTF-8 too


def test_undecodable_byte_far_into_the_file_is_located_exactly(tmp_path: Path) -> None:
    good = "".join(f"7701{i:07d},'a\nb'\n" for i in range(5000)).encode()  # 10,000 lines
    path = write(tmp_path, good + b"77010000000,\x98\n")
    with pytest.raises(ImportFileError, match=f"offset {len(good) + 12} \\(row 10001\\)"):
        for _ in rows(path, CsvOptions(encoding="WINDOWS-1251")):  # 0x98 is unused in cp1251
            pass


def test_truncated_utf8_at_end_of_file(tmp_path: Path) -> None:
    path = write(tmp_path, "1,Жанна\n2,".encode() + "Ж".encode()[:1])
    with pytest.raises(ImportFileError, match=r"offset 15 \(row 2\)"):
        list(rows(path))


def test_odd_length_utf16(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xff\xfe" + "1\n".encode("utf-16-le") + b"\x32")
    with pytest.raises(ImportFileError, match=r"utf-16-le \(byte-order mark\).*offset 6 \(row 2\)"):
        list(rows(path))


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "77011234567\n" * 10)
    with pytest.raises(ImportFileError, match="120 bytes, over the limit of 100 bytes"):
        rows(path, max_bytes=100)
    assert len(list(rows(path, max_bytes=120))) == 10


@pytest.mark.parametrize("encoding", ["KOI8-U-ish", "", "rot13", "base64"])
def test_unknown_encoding(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "1\n")
    with pytest.raises(ImportFileError, match=r"unknown encoding.*use one of KOI8-R"):
        rows(path, CsvOptions(encoding=encoding))
    assert count_rows(path, CsvOptions(encoding=encoding)) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CsvOptions(delimiter="ab"), "delimiter must be a single character, got 'ab'"),
        (CsvOptions(delimiter=""), "delimiter must be a single character"),
        (CsvOptions(enclosure="''"), "enclosure must be a single character"),
        (CsvOptions(delimiter="\n"), "delimiter cannot be"),
        (CsvOptions(delimiter="'"), "must differ"),
    ],
)
def test_bad_delimiter_or_enclosure(tmp_path: Path, options: CsvOptions, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        rows(write(tmp_path, "1\n"), options)


def test_excel_ignores_csv_options(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write(0, 0, "77011234567")
    book.close()
    assert list(rows(path, CsvOptions(delimiter="ab", encoding="nope"))) == [(1, ["77011234567"])]


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, b"PK\x03\x04" + b"not really a zip" * 64, name="broken.xlsx")
    with pytest.raises(ImportFileError, match=r"cannot read the file as an Excel workbook: .*Zip"):
        rows(path)
    assert count_rows(path) is None


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "77011234567\n")
    assert detect_format(path) == "xlsx"
    with pytest.raises(ImportFileError, match="cannot read the file as an Excel workbook"):
        rows(path)


def test_corrupt_xls(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x07" * 600, name="x.xls")
    with pytest.raises(ImportFileError, match="cannot read the file as an Excel workbook"):
        rows(path)


def test_oversized_field_is_a_malformed_record(tmp_path: Path) -> None:
    # an unterminated enclosure swallows the rest of the file until csv's field limit
    path = write(tmp_path, "1\n2,'" + "x" * 200_000 + "\n3\n")
    with pytest.raises(ImportFileError, match="malformed CSV in the record starting on row 2"):
        list(rows(path))


# --- counting and streaming ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "skip_header", "expected"),
    [
        ("1\n2\n3\n", False, 3),
        ("1\n2\n3", False, 3),
        ("1\r\n2\r\n", False, 2),
        ("1\r2\r3", False, 3),
        ("h\n1\n2\n", True, 2),
        ("h", True, 0),
        ("1\n\n2\n", False, 3),  # blank lines count: an estimate, not the exact total
    ],
)
def test_count_rows_csv(tmp_path: Path, text: str, skip_header: bool, expected: int) -> None:
    assert count_rows(write(tmp_path, text), CsvOptions(skip_header=skip_header)) == expected


def test_count_rows_utf16_counts_code_units_not_bytes(tmp_path: Path) -> None:
    # "Њ" is U+040A: its little-endian bytes contain 0x0A, which is not a line break
    path = write(tmp_path, b"\xff\xfe" + "1,Њ\n2,Њ\n".encode("utf-16-le"))
    assert count_rows(path) == 2
    assert count_rows(path, CsvOptions(encoding="UCS-2")) == 2


def test_reading_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        for i in range(200_000):
            file.write(f"7701{i:07d},'Name {i}, Жанна',x\n")
    size = path.stat().st_size
    assert size > 7_000_000
    assert count_rows(path) == 200_000

    tracemalloc.start()
    try:
        seen = 0
        last: tuple[int, list[str]] | None = None
        for record in rows(path):
            seen += 1
            last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 200_000
    assert last == (200_000, ["77010199999", "Name 199999, Жанна", "x"])
    assert peak < 2_000_000, f"peak {peak} bytes for a {size}-byte file"


def test_count_rows_of_xlsx_uses_the_declared_dimension(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "big.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet()
    for i in range(1234):
        sheet.write_number(i, 0, 77010000000 + i)
    book.close()
    assert count_rows(path) == 1234
    assert count_rows(path, CsvOptions(skip_header=True)) == 1233
