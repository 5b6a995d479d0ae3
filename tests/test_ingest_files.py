"""Reading feed files: every bad input file of feeds.md gets an InputError that names the
file and what was expected, never a traceback and never member data."""

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecm.errors import InputError
from ecm.ingest import ingest
from ecm.ingest.discover import parse_encoding_options
from tests.feeds import line, member, minimal_feeds, write_feed


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def run_ingest(con, folder, rules, tmp_path, **options):
    return ingest(con, folder, rules, tmp_path / "work", **options)


def table(con, name):
    return con.sql(f"select * from {name}").pl()


def many_lines(n=5000):
    return [line(f"c{i}", "A", "2026-01-05") for i in range(n)]


# --- truncated or corrupt compressed and Parquet files -------------------------------------


def test_a_truncated_gzip_names_the_file(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    path = write_feed(feeds, "medical_claim", many_lines(), suffix=".csv.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"medical_claim\.csv\.gz: .*gzip.*(truncated|ends)"):
        run_ingest(con, feeds, rules, tmp_path)


def test_random_bytes_named_gz_names_the_file(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    (feeds / "medical_claim.csv.gz").write_bytes(b"member_id,claim_id\nnot gzip at all\n")
    with pytest.raises(InputError, match=r"medical_claim\.csv\.gz: .*not a gzip"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_corrupt_gzip_stream_names_the_file(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    path = write_feed(feeds, "medical_claim", many_lines(), suffix=".csv.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"medical_claim\.csv\.gz: .*gzip"):
        run_ingest(con, feeds, rules, tmp_path)


def write_parquet_eligibility(path, n=2000, **kwargs):
    pl.DataFrame(
        {
            "member_id": [f"M{i:06d}" for i in range(n)],
            "birth_date": ["1980-01-01"] * n,
            "enrollment_start_date": ["2020-01-01"] * n,
            "enrollment_end_date": [None] * n,
            "first_name": [f"name {i}" for i in range(n)],
        }
    ).write_parquet(path, **kwargs)


def test_a_parquet_file_cut_in_half_names_the_file(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    path = feeds / "eligibility.parquet"
    write_parquet_eligibility(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"eligibility\.parquet: cannot be read as a Parquet"):
        run_ingest(con, feeds, rules, tmp_path)


def test_random_bytes_named_parquet_name_the_file(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    (feeds / "eligibility.parquet").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError, match=r"eligibility\.parquet: cannot be read as a Parquet"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_parquet_file_with_corrupt_pages_names_the_file(tmp_path, con, rules):
    """The footer is intact, so the schema reads: the damage shows only when DuckDB reads
    the pages, in staging."""
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    path = feeds / "eligibility.parquet"
    write_parquet_eligibility(path, n=20000, compression="zstd", statistics=False)
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer - 4, 97):
        data[i] = (data[i] + 77) % 256
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"eligibility\.parquet: cannot be read as a Parquet"):
        run_ingest(con, feeds, rules, tmp_path)


# --- headers ---------------------------------------------------------------------------


def test_a_text_header_naming_a_column_twice_is_an_error(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").write_text(
        "member_id,birth_date,enrollment_start_date,enrollment_end_date,MEMBER_ID\n"
        "A,1980-01-01,2020-01-01,,B\n"
    )
    with pytest.raises(InputError, match=r"eligibility\.csv: the header names column 'member_id'"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_parquet_schema_naming_a_column_twice_is_an_error(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    pq.write_table(
        pa.table(
            [["A"], ["1980-01-01"], ["2020-01-01"], [None], ["B"]],
            names=[
                "member_id",
                "birth_date",
                "enrollment_start_date",
                "enrollment_end_date",
                "Member_Id",
            ],
        ),
        feeds / "eligibility.parquet",
    )
    with pytest.raises(
        InputError, match=r"eligibility\.parquet: the header names column 'member_id' twice"
    ):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_headerless_file_is_reported_without_echoing_its_first_row(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").write_text(
        "M0012345,1961-07-04,2020-01-01,,white,Josefina,Alvarez\n"
        "M0012346,1962-07-04,2020-01-01,,asian,Mei,Chen\n"
    )
    with pytest.raises(InputError) as caught:
        run_ingest(con, feeds, rules, tmp_path)
    message = str(caught.value)
    assert "eligibility.csv" in message
    assert "the first line looks like a data row, not a header" in message
    for value in ("M0012345", "1961-07-04", "white", "Josefina", "Alvarez"):
        assert value not in message


def test_a_real_header_lacking_a_column_lists_the_names_it_has(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").write_text(
        "member_id,enrollment_start_date,enrollment_end_date\nA,2020-01-01,\n"
    )
    with pytest.raises(InputError, match=r"birth_date.*Found: member_id, enrollment_start_date"):
        run_ingest(con, feeds, rules, tmp_path)


# --- formats and encodings -------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_tab_delimited_files_read(tmp_path, con, rules, suffix):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A", first_name="Ana, Maria")], suffix=suffix)
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")], suffix=suffix)
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].staged == 1
    assert result.ignored_files == []
    assert table(con, "stg__eligibility")["first_name"].to_list() == ["Ana, Maria"]


@pytest.mark.parametrize(
    ("content", "looks"),
    [
        (
            "member_id\tbirth_date\tenrollment_start_date\tenrollment_end_date\nA\t1980-01-01\t"
            "2020-01-01\t\n",
            "tab",
        ),
        (
            "member_id|birth_date|enrollment_start_date|enrollment_end_date\nA|1980-01-01|"
            "2020-01-01|\n",
            r"'\|'",
        ),
    ],
)
def test_a_csv_with_another_delimiter_gets_a_hint(tmp_path, con, rules, content, looks):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").write_text(content)
    with pytest.raises(InputError, match=rf"eligibility\.csv: .*looks delimited by {looks}"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_tsv_that_is_comma_delimited_gets_a_hint(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").rename(feeds / "eligibility.tsv")
    with pytest.raises(InputError, match=r"eligibility\.tsv: .*looks delimited by ','"):
        run_ingest(con, feeds, rules, tmp_path)


def test_parse_encoding_options():
    assert parse_encoding_options([]) == {}
    assert parse_encoding_options(["cp1252"]) == {"*": "cp1252"}
    assert parse_encoding_options(["utf-8", "eligibility=Windows-1252"]) == {
        "*": "utf-8",
        "eligibility": "cp1252",
    }
    with pytest.raises(InputError, match="'klingon' is not an encoding"):
        parse_encoding_options(["klingon"])
    with pytest.raises(InputError, match="'eligibilty' is not a feed"):
        parse_encoding_options(["eligibilty=cp1252"])


CP1252_NAME = "Jos\u00e9 \u2013 Pe\u00f1a"  # é, en dash and ñ: bytes 0xE9, 0x96, 0xF1


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".psv"])
@pytest.mark.parametrize("option", ["*", "eligibility"])
def test_a_windows_1252_extract_reads_with_encoding(tmp_path, con, rules, suffix, option):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [member("A", first_name=CP1252_NAME)],
        suffix=suffix,
        encoding="cp1252",
    )
    claim_encoding = "cp1252" if option == "*" else "utf-8"
    write_feed(
        feeds,
        "medical_claim",
        [line("c1", "A", "2026-01-05")],
        suffix=suffix,
        encoding=claim_encoding,
    )
    result = run_ingest(con, feeds, rules, tmp_path, encodings={option: "cp1252"})
    assert result.feeds["eligibility"].staged == 1
    assert table(con, "stg__eligibility")["first_name"].to_list() == [CP1252_NAME]
    assert table(con, "stg__medical_claim")["claim_id"].to_list() == ["c1"]


def test_a_windows_1252_byte_in_a_utf8_read_suggests_the_option(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    write_feed(
        feeds,
        "eligibility",
        [member("A"), member("B", first_name=CP1252_NAME)],
        encoding="cp1252",
    )
    with pytest.raises(InputError) as caught:
        run_ingest(con, feeds, rules, tmp_path)
    message = str(caught.value)
    assert "eligibility.csv, line 3" in message
    assert "byte 0xe9" in message
    assert "--encoding eligibility=cp1252" in message
    assert "Jos" not in message


def test_a_byte_the_chosen_encoding_lacks_names_file_and_line(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    path = write_feed(feeds, "eligibility", [member("A"), member("B", first_name="X")])
    path.write_bytes(path.read_bytes().replace(b",X,", b",\x81,"))  # undefined in cp1252
    with pytest.raises(InputError, match=r"eligibility\.csv, line 3: .*cp1252"):
        run_ingest(con, feeds, rules, tmp_path, encodings={"*": "cp1252"})


# --- lines ----------------------------------------------------------------------------


def test_a_quoted_newline_keeps_the_line_numbers_of_later_rows(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    write_feed(
        feeds,
        "eligibility",
        [
            member("A", address="1 Main St\nApt 2"),  # lines 2-3
            member("B", address="2 Main St\r\nUnit\n4"),  # lines 4-6
            member("C", birth_date="not a date"),  # line 7
        ],
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].read == 3
    staged = table(con, "stg__eligibility").sort("member_id")
    assert staged["_line"].to_list() == [2, 4]
    assert staged["address"].to_list() == ["1 Main St\nApt 2", "2 Main St\r\nUnit\n4"]
    assert table(con, "quarantine")["line"].to_list() == [7]


def test_blank_lines_are_skipped_and_not_counted(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    path = write_feed(
        feeds, "eligibility", [member("A"), member("B"), member("C", birth_date="bad")]
    )
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[0], "\n", lines[1], "\n", ",,,\n", lines[2], lines[3], "\n\n"]))
    result = run_ingest(con, feeds, rules, tmp_path)
    counts = result.feeds["eligibility"]
    assert (counts.read, counts.staged, counts.quarantined) == (3, 2, 1)
    assert table(con, "stg__eligibility").sort("member_id")["_line"].to_list() == [3, 6]
    assert table(con, "quarantine")["line"].to_list() == [7]


def test_three_date_forms_end_to_end(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("A", birth_date="1980-01-02", enrollment_start_date="20200101"),
            member("B", birth_date="19800102", enrollment_start_date="01/01/2020"),
            member("C", birth_date="01/02/1980", enrollment_start_date="2020-01-01"),
        ],
    )
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", "A", "2026-01-05"),
            line("c2", "B", "20260105"),
            line("c3", "C", "01/05/2026"),
        ],
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].quarantined == 0
    assert result.feeds["medical_claim"].quarantined == 0
    members = table(con, "stg__eligibility")
    assert set(members["birth_date"].cast(pl.String)) == {"1980-01-02"}
    assert set(members["enrollment_start_date"].cast(pl.String)) == {"2020-01-01"}
    assert set(table(con, "stg__medical_claim")["claim_start_date"].cast(pl.String)) == {
        "2026-01-05"
    }


# --- drops of one feed, unknown columns, header-only feeds -------------------------------


def test_drops_differing_in_optional_columns_are_read_and_reported(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    base = ["member_id", "birth_date", "enrollment_start_date", "enrollment_end_date"]
    write_feed(
        feeds / "eligibility", "eligibility", [member("A", gender="f")], columns=[*base, "gender"]
    )
    (feeds / "eligibility" / "eligibility.csv").rename(feeds / "eligibility" / "2026-01.csv")
    write_feed(
        feeds / "eligibility",
        "eligibility",
        [member("B", county="Kern", region="n")],
        columns=[*base, "county"],
    )
    (feeds / "eligibility" / "eligibility.csv").rename(feeds / "eligibility" / "2026-02.csv")
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].staged == 2
    staged = table(con, "stg__eligibility").sort("member_id")
    assert staged.select("gender", "county", "region").rows() == [
        ("f", None, None),
        (None, "Kern", "n"),
    ]
    assert result.column_differences == {
        "eligibility": [
            {"file": "eligibility/2026-01.csv", "missing_optional": ["county"], "extra": []},
            {
                "file": "eligibility/2026-02.csv",
                "missing_optional": ["gender"],
                "extra": ["region"],
            },
        ]
    }
    assert "medical_claim" not in result.column_differences


def test_a_drop_lacking_a_required_column_names_that_file(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "medical_claim_2026_02.csv").write_text("claim_id,member_id\nc9,A\n")
    with pytest.raises(
        InputError, match=r"medical_claim_2026_02\.csv: the medical_claim feed needs .*claim_type"
    ):
        run_ingest(con, feeds, rules, tmp_path)


def test_unknown_extra_columns_are_listed(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A", plan_region="north", Zone="1")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.unknown_columns == {"eligibility": ["plan_region", "zone"]}
    assert table(con, "stg__eligibility")["zone"].to_list() == ["1"]


def test_a_header_only_optional_feed_is_present_but_flagged(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    write_feed(feeds, "incarceration", [])
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.header_only_feeds == ["incarceration"]
    assert "incarceration" not in result.missing_feeds
    assert result.feeds["incarceration"].read == 0


def test_the_staged_feeds_are_those_of_the_last_ingest(tmp_path, con, rules):
    """What ecm diff reads as the feeds present (a run's `feeds`): a header-only feed is
    one; a feed whose files are gone at the next ingest is not. And the void frequency the
    claim versions were resolved with."""
    from ecm.ingest.tables import staged_feeds, staged_void_frequency

    assert staged_feeds(con) == frozenset() and staged_void_frequency(con) is None
    feeds = minimal_feeds(tmp_path / "feeds")
    write_feed(feeds, "incarceration", [])
    result = run_ingest(con, feeds, rules, tmp_path)
    assert staged_feeds(con) == frozenset(result.feeds) >= {"incarceration", "eligibility"}
    (feeds / "incarceration.csv").unlink()
    result = run_ingest(con, feeds, rules, tmp_path)
    assert staged_feeds(con) == frozenset(result.feeds)
    assert "incarceration" not in staged_feeds(con)
    assert staged_void_frequency(con) == rules.setting("claims.void_bill_type_frequency")


def test_a_header_only_required_feed_is_an_error(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    write_feed(feeds, "eligibility", [])
    with pytest.raises(InputError, match=r"eligibility feed .* has a header but no rows"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_file_of_only_blank_lines_after_the_header_is_header_only(tmp_path, con, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    path = write_feed(feeds, "incarceration", [])
    path.write_text(path.read_text() + "\n\n")
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.header_only_feeds == ["incarceration"]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ('"A,1980-01-01,2020-01-01,\n', "line 3: a quote opens a value that never closes"),
        ('A,"19"80-01-01,2020-01-01,\n', "line 3: a quoted value goes on after its closing quote"),
    ],
)
def test_broken_quoting_names_the_line_without_echoing_it(tmp_path, con, rules, bad, expected):
    feeds = minimal_feeds(tmp_path / "feeds")
    path = feeds / "eligibility.csv"
    path.write_text(
        "member_id,birth_date,enrollment_start_date,enrollment_end_date\n"
        "B,1980-01-01,2020-01-01,\n" + bad
    )
    with pytest.raises(InputError) as caught:
        run_ingest(con, feeds, rules, tmp_path)
    assert f"eligibility.csv, {expected}" in str(caught.value)
    assert "19" not in str(caught.value).split(expected)[1]
