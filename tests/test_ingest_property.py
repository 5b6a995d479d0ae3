"""Wild input thrown at `ingest`: broken rows and files never raise anything but an
InputError, an ingest always balances (read = staged + quarantined per feed), and the good
members' staged rows are the same as without the bad rows."""

import csv
import gzip
import io
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from data_contracts import load_contract
from ecm.config.rules import load_rules
from ecm.errors import InputError
from ecm.ingest import ingest
from tests.feeds import delimiter_of, line, member

FEEDS = ("eligibility", "medical_claim")
GOOD_IDS = ("GOOD-0001", "GOOD-0002", "GOOD-0003")
GOOD_ROWS = {
    "eligibility": [
        member(GOOD_IDS[0], birth_date="1980-01-02", gender="f"),
        member(GOOD_IDS[1], birth_date="19750315", county="Kern"),
        member(GOOD_IDS[2], birth_date="07/04/2010", enrollment_start_date="20200101"),
    ],
    "medical_claim": [
        line("g1", GOOD_IDS[0], "2026-01-05"),
        line("g2", GOOD_IDS[1], "20260106", claim_type="institutional", bill_type_code="131"),
        line("g3", GOOD_IDS[2], "01/07/2026", revenue_center_code="450"),
    ],
}
RULES = load_rules()

# Text a field may hold: delimiters, quotes, line breaks, a BOM, non-ASCII letters.
FIELD_TEXT = st.text(
    alphabet=st.sampled_from([*list("ab9Z -_.,|\t\"'\r\n\ufeffé—"), "\x00"]), max_size=12
)
BAD_DATES = st.sampled_from(
    ["2026-02-30", "13/01/2026", "2026-1-1", "20261301", "yesterday", "0000-00-00", " "]
)


@st.composite
def bad_line(draw, width: int, sep: str) -> bytes:
    """One broken line: a member id no good member has, then fields of any count."""
    fields = ["X" + draw(FIELD_TEXT)]
    fields += draw(st.lists(st.one_of(FIELD_TEXT, BAD_DATES), max_size=width + 3))
    quoted = ['"' + f.replace('"', '""') + '"' if draw(st.booleans()) else f for f in fields]
    data = sep.join(quoted).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # random bytes, often not UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


@st.composite
def feed_file(draw, feed: str) -> dict:
    """How one feed's file is written: format, header spelling, extras and bad lines."""
    contract = load_contract(feed)
    suffix = draw(st.sampled_from([".csv", ".csv.gz", ".psv", ".tsv"]))
    sep = delimiter_of(suffix)
    known = {c.lower() for c in contract.columns}
    extras = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
                lambda name: name not in known
            ),
            max_size=2,
            unique=True,
        )
    )
    width = len(contract.columns) + len(extras)
    return {
        "suffix": suffix,
        "sep": sep,
        "upper": draw(st.lists(st.booleans(), min_size=width, max_size=width)),
        "extras": extras,
        "bad": draw(st.lists(st.one_of(bad_line(width, sep), st.just(b"")), max_size=6)),
        "bom": draw(st.booleans()),
        "crlf": draw(st.booleans()),
        "cut": draw(st.one_of(st.none(), st.floats(0, 1))),
    }


def write(folder: Path, feed: str, spec: dict | None) -> None:
    """Write the good rows of a feed, then (with a spec) the broken part after them."""
    contract = load_contract(feed)
    spec = spec or {
        "suffix": ".csv",
        "sep": ",",
        "extras": [],
        "bad": [],
        "bom": False,
        "crlf": False,
        "cut": None,
        "upper": [],
    }
    columns = [*contract.columns, *spec["extras"]]
    header = [c.upper() if up else c for c, up in zip(columns, spec["upper"], strict=False)]
    header += columns[len(header) :]
    newline = "\r\n" if spec["crlf"] else "\n"
    text = io.StringIO()
    writer = csv.writer(text, delimiter=spec["sep"], lineterminator=newline)
    writer.writerow(header)
    for row in GOOD_ROWS[feed]:
        writer.writerow([row.get(c, "x" if c in spec["extras"] else "") for c in columns])
    good = ("\ufeff" if spec["bom"] else "") + text.getvalue()
    data = good.encode("utf-8") + b"".join(b + newline.encode() for b in spec["bad"])
    if spec["cut"] is not None and not spec["suffix"].endswith(".gz"):
        # a plain file is cut only in its broken part: the good rows stay whole
        keep = len(good.encode("utf-8"))
        data = data[: keep + int((len(data) - keep) * spec["cut"])]
    if spec["suffix"].endswith(".gz"):
        data = gzip.compress(data)
        if spec["cut"] is not None:
            data = data[: int(len(data) * spec["cut"])]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{feed}{spec['suffix']}").write_bytes(data)


def good_members_staged(con) -> dict[str, list[tuple]]:
    """Each feed's staged rows of the good members: contract columns and line."""
    staged = {}
    for feed in FEEDS:
        contract = load_contract(feed)
        shown = [c for c in contract.columns if c in (contract.stored_columns or contract.columns)]
        columns = ", ".join(f'"{c}"' for c in ("_line", *shown))
        staged[feed] = con.execute(
            f"select {columns} from stg__{feed} where member_id like 'GOOD-%' order by all"
        ).fetchall()
    return staged


def run(specs: dict[str, dict | None]):
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect() as con:
        folder = Path(tmp) / "feeds"
        for feed in FEEDS:
            write(folder, feed, specs.get(feed))
        result = ingest(con, folder, RULES, Path(tmp) / "work")
        return result, good_members_staged(con)


@pytest.fixture(scope="module")
def baseline():
    _result, staged = run({})
    assert [len(staged[f]) for f in FEEDS] == [3, 3]
    return staged


def test_wild_files_raise_only_input_errors_balance_and_keep_good_members(baseline):
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(eligibility=feed_file("eligibility"), medical_claim=feed_file("medical_claim"))
    def only_input_errors_and_balanced(eligibility, medical_claim):
        try:
            result, staged = run({"eligibility": eligibility, "medical_claim": medical_claim})
        except InputError as exc:
            message = str(exc)
            event(
                f"InputError: {message.split(': ', 2)[1][:30] if ': ' in message else message[:30]}"
            )
            assert "eligibility" in message or "medical_claim" in message
            assert "GOOD-" not in message
            assert "\n" not in message.strip()
            outcomes["refused"] += 1
            return
        event("ingested")
        for feed in FEEDS:
            counts = result.feeds[feed]
            assert counts.read == counts.staged + counts.quarantined
        assert staged == baseline
        outcomes["ingested"] += 1
        if any(result.feeds[feed].quarantined for feed in FEEDS):
            outcomes["ingested with rows quarantined"] += 1

    only_input_errors_and_balanced()
    # The property holds by ingesting, not only by refusing: most generated files ingest
    # (55-70% when this was written), some with their broken rows quarantined.
    assert outcomes["ingested"] >= 0.3 * (outcomes["ingested"] + outcomes["refused"]), outcomes
    assert outcomes["ingested with rows quarantined"] >= 1, outcomes


def test_the_property_generator_writes_files_that_ingest(baseline):
    """The generator's good part alone ingests: the property above can pass by ingesting."""
    spec = {
        "suffix": ".tsv",
        "sep": "\t",
        "extras": ["zone"],
        "bad": [b"Xq\t1"],
        "bom": True,
        "crlf": True,
        "cut": None,
        "upper": [True] * 3,
    }
    result, staged = run({"eligibility": spec, "medical_claim": None})
    assert result.feeds["eligibility"].quarantined == 1
    assert result.unknown_columns == {"eligibility": ["zone"]}
    assert staged == baseline
