"""The bench's own machinery (fast): the process-tree RSS sampler, the HIGH_UTIL baseline
query on a hand-made feed set, and the feed-set cache. Speed is never asserted here."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pytest

from ecm.config.rules import load_rules
from tests import bench

D = dt.date
AVOIDABLE = "A09"  # NYU: noner 1
AVOIDABLE_DOTTED = "J06.9"  # epct 0.82 + edcnpa 0.18
INJURY = "S0100XA"  # NYU: injury 1, never avoidable


def test_tree_rss_counts_descendants() -> None:
    """A parent whose child holds 150 MB: the tree's peak includes the child's memory,
    which the parent's own RSS (what /usr/bin/time -v would report) does not."""
    child = "b = bytearray(150 * 2**20); import time; time.sleep(0.8)"
    parent = textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], start_new_session=True)
    with bench.TreeRssSampler(proc.pid, interval=0.05) as sampler:
        assert proc.wait() == 0
    assert sampler.samples > 5
    assert sampler.peak > 150 * 2**20, sampler.peak
    # Our own process alone, as a sanity check of the units (bytes, not pages or kB).
    own = bench.tree_rss_bytes(os.getpid(), session=False)
    assert 10 * 2**20 < own < 8 * 2**30


def test_tree_rss_of_a_gone_process_is_zero() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    time.sleep(0.05)
    assert bench.tree_rss_bytes(proc.pid, session=False) == 0


def _ed(member, day, claim_id, dx=AVOIDABLE, file_date=D(2026, 11, 1), **extra) -> dict:
    row = {
        "member_id": member,
        "data_source": "t",
        "claim_id": claim_id,
        "claim_type": "institutional",
        "file_date": file_date,
        "revenue_center_code": "450",  # 3 digits: the baseline pads to 0450
        "hcpcs_code": None,
        "place_of_service_code": None,
        "bill_type_code": "131",
        "admit_type_code": None,
        "claim_line_start_date": day,
        "claim_start_date": day,
        "admission_date": None,
        "diagnosis_code_1": dx,
    }
    row.update(extra)
    return row


def _stay(member, day, claim_id, admit_type="1") -> dict:
    return _ed(
        member,
        day,
        claim_id,
        revenue_center_code="0100",
        bill_type_code="0111",
        admit_type_code=admit_type,
        admission_date=day,
    )


def _feeds(tmp_path):
    days = [D(2026, m, 3) for m in range(1, 8)]
    claims = [
        # A1, adult: 5 avoidable ED visits in the lookback → HIGH_UTIL_ADULT.
        *[_ed("A1", d, f"a1-{i}") for i, d in enumerate(days[:5])],
        # A2, adult: 4 avoidable + 1 injury + 1 outside the lookback + 2 lines on one date.
        *[_ed("A2", d, f"a2-{i}", dx=AVOIDABLE_DOTTED) for i, d in enumerate(days[:4])],
        _ed("A2", days[4], "a2-inj", dx=INJURY),
        _ed("A2", D(2025, 10, 31), "a2-old"),
        _ed("A2", days[0], "a2-dup", claim_type="professional", place_of_service_code="23"),
        # A3, adult: 3 unplanned stays (admit types 1, 5, empty) → HIGH_UTIL_ADULT.
        _stay("A3", days[0], "a3-0", "1"),
        _stay("A3", days[2], "a3-1", "05"),
        _stay("A3", days[4], "a3-2", None),
        _stay("A3", days[5], "a3-3", "9"),  # 9 = not available: empty, unplanned
        # A4, adult: 3 stays, one elective (3) and one voided by its later version.
        _stay("A4", days[0], "a4-0", "1"),
        _stay("A4", days[2], "a4-1", "3"),
        _stay("A4", days[4], "a4-2", "2"),
        {
            **_stay("A4", days[4], "a4-2", "2"),
            "bill_type_code": "118",
            "file_date": D(2026, 12, 1),
        },
        # C1, child: 3 avoidable ED visits (HCPCS on a professional claim) → HIGH_UTIL_CHILD.
        *[
            _ed(
                "C1",
                d,
                f"c1-{i}",
                claim_type="professional",
                revenue_center_code=None,
                hcpcs_code="99283",
            )
            for i, d in enumerate(days[:3])
        ],
        # C2, child but not enrolled on D: 3 visits, not counted.
        *[_ed("C2", d, f"c2-{i}") for i, d in enumerate(days[:3])],
        # A5: 5 visits but dead before D.
        *[_ed("A5", d, f"a5-{i}") for i, d in enumerate(days[:5])],
    ]
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    pl.DataFrame(claims, infer_schema_length=None).write_parquet(feeds / "medical_claim.parquet")
    open_span = {"enrollment_start_date": D(2024, 1, 1), "enrollment_end_date": None}
    eligibility = [
        {"member_id": "A1", "birth_date": D(1980, 5, 1), "death_date": None, **open_span},
        {"member_id": "A2", "birth_date": D(1980, 5, 1), "death_date": None, **open_span},
        {"member_id": "A3", "birth_date": D(2005, 10, 31), "death_date": None, **open_span},
        {"member_id": "A4", "birth_date": D(1970, 1, 1), "death_date": None, **open_span},
        {"member_id": "A5", "birth_date": D(1970, 1, 1), "death_date": D(2026, 9, 1), **open_span},
        # 20 on D (21st birthday the day after D): a child.
        {"member_id": "C1", "birth_date": D(2005, 11, 1), "death_date": None, **open_span},
        {
            "member_id": "C2",
            "birth_date": D(2015, 1, 1),
            "death_date": None,
            "enrollment_start_date": D(2024, 1, 1),
            "enrollment_end_date": D(2026, 10, 30),
        },
    ]
    pl.DataFrame(eligibility).write_parquet(feeds / "eligibility.parquet")
    return feeds


def test_baseline_counts_on_a_tiny_feed_set(tmp_path) -> None:
    result = bench.baseline(_feeds(tmp_path))
    # Adults: A1 (5 ED), A3 (3 stays; 21 on D, birthday on D counts). Child: C1.
    assert (result["HIGH_UTIL_ADULT"], result["HIGH_UTIL_CHILD"]) == (2, 1)
    assert result["members"] == {"HIGH_UTIL_ADULT": {"A1", "A3"}, "HIGH_UTIL_CHILD": {"C1"}}


def test_lookback_start() -> None:
    assert bench.lookback_start(D(2026, 10, 31)) == D(2025, 11, 1)
    assert bench.lookback_start(D(2026, 2, 28)) == D(2025, 3, 1)


def test_feed_set_without_marker_is_regenerated(tmp_path) -> None:
    fs = bench.FeedSet(members=30, months=1, fmt="parquet", root=tmp_path)
    first = bench.ensure_feeds(fs)
    assert not first["cached"] and (fs.path / bench.MARKER).is_file()
    assert bench.ensure_feeds(fs)["cached"]
    # A half-written set: the marker is missing (written last), so it is generated again.
    (fs.path / bench.MARKER).unlink()
    (fs.path / "eligibility.parquet").unlink()
    again = bench.ensure_feeds(fs)
    assert not again["cached"] and (fs.path / "eligibility.parquet").is_file()
    # A listed file gone: not complete either.
    (fs.path / "eligibility.parquet").unlink()
    assert not bench.ensure_feeds(fs)["cached"]


def test_write_section_replaces_only_its_own(tmp_path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Older\n\nkept\n", encoding="utf-8")
    bench.write_section(md, f"{bench.SECTION}\n\nfirst\n")
    bench.write_section(md, f"{bench.SECTION}\n\nsecond\n")
    text = md.read_text(encoding="utf-8")
    assert text == f"# Benchmarks\n\n{bench.SECTION}\n\nsecond\n\n## Older\n\nkept\n"


def test_run_ecm_reads_the_summary_and_other_cpu(tmp_path, monkeypatch) -> None:
    """run_ecm on a stand-in `ecm` that writes a summary.json where --out says."""
    fake = tmp_path / "ecm"
    fake.write_text(
        "#!/bin/sh\n"
        'while [ "$1" != "--out" ]; do shift; done\n'
        'mkdir -p "$2"\n'
        'echo \'{"timings_seconds": {"ingest": 1.5}, "populations": '
        '{"HIGH_UTIL_ADULT": {"members": 3}}}\' > "$2/summary.json"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(bench, "ECM", fake)
    result = bench.run_ecm(tmp_path, tmp_path / "out", tmp_path / "w.duckdb")
    assert result.timings == {"ingest": 1.5}
    assert result.population("HIGH_UTIL_ADULT") == 3
    assert result.population("HIGH_UTIL_CHILD") is None
    assert 0 <= result.other_cores < 64
    fake.write_text("#!/bin/sh\nexit 3\n")
    try:
        bench.run_ecm(tmp_path, tmp_path / "out2", tmp_path / "w.duckdb")
    except bench.RunFailedError as failed:
        assert failed.rc == 3
    else:
        raise AssertionError("a failed run must raise")


def test_run_diff_reads_the_manifest_and_writes_rules_b(tmp_path, monkeypatch) -> None:
    """run_diff on a stand-in `ecm` that writes a manifest.json where --out says and prints
    its summary: the rules file it was given is the packaged one with the 6-month adult
    window; the sides it read from history and its steps come from the summary."""
    fake = tmp_path / "ecm"
    fake.write_text(
        "#!/bin/sh\n"
        'cp "$3" "$(dirname "$7")/given.toml"\n'
        'mkdir -p "$7"\n'
        'echo \'{"gained": 1, "lost": 84}\' > "$7/manifest.json"\n'
        'echo \'{"sides_recorded": ["a"], "timings_seconds": {"rules_b": 1.5}}\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(bench, "ECM", fake)
    result = bench.run_diff(tmp_path / "diff", tmp_path / "w.duckdb", tmp_path / "rules")
    assert result.manifest == {"gained": 1, "lost": 84}
    assert result.summary == {"sides_recorded": ["a"], "timings_seconds": {"rules_b": 1.5}}
    assert result.wall > 0 and result.peak_rss >= 0
    given = load_rules(tmp_path / "given.toml")
    assert given.setting("populations.HIGH_UTIL_ADULT.lookback_months") == 6
    fake.write_text("#!/bin/sh\nexit 2\n")
    with pytest.raises(bench.RunFailedError):
        bench.run_diff(tmp_path / "diff2", tmp_path / "w.duckdb", tmp_path / "rules")


def test_contract_floor_stores_every_valued_column_and_times_the_start_up(
    tmp_path, monkeypatch
) -> None:
    """The store floor keeps the columns some row holds a value in and leaves no
    warehouse behind; the start-up floor runs EMPTY_FLOW in a new process (a stand-in
    here: the bench runs Prefect's), and a failed start-up is an error, not a figure."""
    feeds = _feeds(tmp_path)
    claims = feeds / "medical_claim.parquet"
    pl.read_parquet(claims).with_columns(
        pl.lit(None, dtype=pl.String).alias("diagnosis_code_25")  # delivered, never filled
    ).write_parquet(claims)
    with duckdb.connect() as con:
        cols = con.sql(f"describe select * from '{feeds / 'medical_claim.parquet'}'").fetchall()
        valued = con.sql(
            "select "
            + ", ".join(f'count("{c[0]}")' for c in cols)
            + f" from '{feeds / 'medical_claim.parquet'}'"
        ).fetchall()[0]
    monkeypatch.setattr(bench, "EMPTY_FLOW", "import time; time.sleep(0.3)")
    work = tmp_path / "work"
    work.mkdir()
    floor = bench.contract_floor(feeds, work)
    assert floor["columns"]["medical_claim"] == sum(1 for n in valued if n) < len(cols)
    assert floor["columns"]["eligibility"] == 5
    assert set(floor["columns"]) == {"medical_claim", "eligibility"}
    assert 0 < floor["store"] < 30
    assert 0.3 <= floor["startup"] < 30
    assert list(work.iterdir()) == []
    monkeypatch.setattr(bench, "EMPTY_FLOW", "raise SystemExit(4)")
    with pytest.raises(subprocess.CalledProcessError):
        bench.contract_floor(feeds, work)
