"""Three months of the referral loop in one warehouse, through the real flow
(tests/story_loop.py): the MIF statuses, members left out, referrals and their states,
the review, the warning, the warehouse's history; re-running a month; the same files for
any shard count."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import polars as pl
import pytest

from tests import story_loop
from tests.story_loop import AUGUST, OCTOBER, SEPTEMBER, P, Q

pytestmark = pytest.mark.flow
LOOP_FILES = ("referrals.parquet", "review.parquet")


def _statuses(out) -> dict[str, tuple[str, str]]:
    """Member → (folder, Assignment Status) over every member information file."""
    found = {}
    for path in sorted((out / "providers").rglob("ECM_MIF_*.txt")):
        rows = pl.read_csv(path, separator="|", infer_schema=False)
        for member_id, status in rows.select("Member CIN", "Assignment Status").iter_rows():
            assert member_id not in found, member_id
            found[member_id] = (path.parent.name, status)
    return found


def _summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def months(harness, tmp_path_factory):
    """August, then the providers answer, September, then October; the warehouse as it
    was before October is kept aside for another October."""
    from flows.monthly import monthly

    root = tmp_path_factory.mktemp("loop")
    feeds = story_loop.write_story(root / "feeds")
    out = root / "out"
    monthly(input_dir=feeds, as_of=AUGUST, out_dir=out / "2026-08")
    story_loop.deliver_provider_files(feeds, out / "warehouse.duckdb")
    monthly(input_dir=feeds, as_of=SEPTEMBER, out_dir=out / "2026-09")
    aside = root / "aside"
    aside.mkdir()
    shutil.copy2(out / "warehouse.duckdb", aside / "warehouse.duckdb")
    monthly(input_dir=feeds, as_of=OCTOBER, out_dir=out / "2026-10")
    return root, feeds, out


def test_august_opens_a_referral_for_every_member_listed_with_a_provider(months):
    out = months[2] / "2026-08"
    statuses = _statuses(out)
    assert statuses["U"] == ("unassigned", "new")
    assert {m: s for m, (_, s) in statuses.items()} == dict.fromkeys(statuses, "new")
    assert {m for m, (f, _) in statuses.items() if f == Q} == {"LATE", "OUT"}
    referrals = pl.read_parquet(out / "referrals.parquet")
    assert referrals.height == len(story_loop.PROVIDER)
    assert set(referrals["state"]) == {"referred"} and set(referrals["opened_date"]) == {AUGUST}
    assert pl.read_parquet(out / "review.parquet").height == 0


def test_september_reads_what_the_providers_sent_back(months):
    out = months[2] / "2026-09"
    assert _statuses(out) == {
        "ENR": (P, "enrolled"),
        "LEAVE": (P, "enrolled"),
        "DIED": (P, "enrolled"),
        "FEW": (P, "enrolled"),
        "NOPOP": (P, "enrolled"),
        "LATE": (Q, "continuing"),
        "OUT": (Q, "continuing"),
        "U": ("unassigned", "continuing"),
    }  # DEC and GAIN closed their loops, ELSE is enrolled with Q: left out of P's file
    loop = _summary(out)["loop"]
    assert loop["left_out"] == {"loop_closed": 2, "enrolled_elsewhere": 1}
    states = dict(
        pl.read_parquet(out / "referrals.parquet").select("member_id", "state").iter_rows()
    )
    assert states == {
        "ENR": "enrolled",
        "DEC": "declined",
        "GAIN": "unable_to_reach",
        "LATE": "referred",
        "OUT": "outreach",
        "ELSE": "referred",
        "LEAVE": "enrolled",
        "DIED": "enrolled",
        "FEW": "enrolled",
        "NOPOP": "enrolled",
    }


def test_october_tells_the_rest_of_the_story(months):
    out = months[2] / "2026-10"
    assert _statuses(out) == {
        "ENR": (P, "enrolled"),
        "FEW": (P, "enrolled"),
        "GAIN": (P, "re-referral"),  # a population gained since the loop closed
        "LATE": (Q, "continuing"),
        "OUT": (Q, "continuing"),
        "U": ("unassigned", "continuing"),
    }
    referrals = pl.read_parquet(out / "referrals.parquet")
    got = {
        r["member_id"]: (r["state"], r["state_date"], r["days_open"], r["is_overdue"])
        for r in referrals.iter_rows(named=True)
    }
    assert got == {
        "DEC": ("declined", dt.date(2026, 9, 3), None, False),
        "DIED": ("left_plan", dt.date(2026, 10, 20), None, False),
        "ELSE": ("referred", AUGUST, 61, True),
        "ENR": ("enrolled", dt.date(2026, 9, 20), None, False),
        "FEW": ("enrolled", dt.date(2026, 9, 1), None, False),
        "GAIN": ("referred", OCTOBER, 0, False),
        "LATE": ("referred", AUGUST, 61, True),
        "LEAVE": ("left_plan", dt.date(2026, 10, 16), None, False),
        "NOPOP": ("enrolled", dt.date(2026, 9, 1), None, False),
        "OUT": ("outreach", dt.date(2026, 9, 10), 61, True),
    }
    enr = referrals.filter(pl.col("member_id") == "ENR").row(0, named=True)
    assert (enr["outreach_attempts"], enr["last_outreach_date"]) == (2, dt.date(2026, 9, 4))
    gain = referrals.filter(pl.col("member_id") == "GAIN").row(0, named=True)
    assert gain["opened_date"] == OCTOBER  # the re-referral opened a new referral
    review = pl.read_parquet(out / "review.parquet")
    assert review.select("member_id", "provider_npi", "reason", "lost_codes").rows() == [
        ("DIED", P, "left_plan", None),
        ("FEW", P, "fewer_populations", "HIGH_UTIL_ADULT"),
        ("LEAVE", P, "left_plan", None),
        ("NOPOP", P, "no_population", None),
    ]
    summary = _summary(out)
    loop = summary["loop"]
    assert (loop["referrals"], loop["open"], loop["overdue"]) == (10, 4, 3)
    assert loop["referrals_by_state"]["left_plan"] == 2
    assert loop["assignment_status"] == {"new": 0, "continuing": 2, "enrolled": 2,
                                         "re-referral": 1}  # fmt: skip
    assert loop["left_out"] == {"loop_closed": 1, "enrolled_elsewhere": 1}
    assert loop["review"] == {"no_population": 1, "fewer_populations": 1, "excluded": 0,
                              "left_plan": 2}  # fmt: skip
    warnings = [
        w
        for w in summary["data_quality"]["warnings"]
        if w["rule"] == "member_not_referred_to_provider"
    ]
    assert [(w["provider_npi"], w["rows"], w["members"]) for w in warnings] == [(Q, 1, 1)]
    assert "ELSE" not in json.dumps(warnings)
    assert "timings_seconds" in summary and "loop" in summary["timings_seconds"]


def test_the_warehouse_keeps_every_months_listing_and_referrals(months):
    out = months[2]
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        listed = con.execute(
            "select as_of_date, count(*) from run_member_files group by all order by all"
        ).fetchall()
        referred = con.execute(
            "select as_of_date, count(*) from run_referrals group by all order by all"
        ).fetchall()
        october = con.sql(
            "select * exclude (as_of_date) from run_referrals where as_of_date = ? "
            "order by member_id, provider_npi",
            params=[OCTOBER],
        ).pl()
    assert listed == [(AUGUST, 11), (SEPTEMBER, 8), (OCTOBER, 6)]
    assert referred == [(AUGUST, 10), (SEPTEMBER, 10), (OCTOBER, 10)]
    assert october.equals(pl.read_parquet(out / "2026-10" / "referrals.parquet"))


def _loop_bytes(out) -> dict[str, bytes]:
    files = [out / name for name in LOOP_FILES] + sorted(out.glob("providers/*/ECM_MIF_*.txt"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def test_rerunning_a_month_replaces_its_rows_and_gives_the_same_files(months):
    from flows.monthly import monthly

    _, feeds, out = months
    before = _loop_bytes(out / "2026-10")
    monthly(input_dir=feeds, as_of=OCTOBER, out_dir=out / "2026-10")
    assert _loop_bytes(out / "2026-10") == before
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        counts = con.execute(
            "select (select count(*) from run_member_files where as_of_date = $d), "
            "(select count(*) from run_referrals where as_of_date = $d)",
            {"d": OCTOBER},
        ).fetchall()
    assert counts == [(6, 10)]


def test_any_shard_count_gives_the_same_loop_files(months):
    from flows.monthly import monthly

    root, feeds, out = months
    other = root / "aside" / "2026-10"
    monthly(
        input_dir=feeds,
        as_of=OCTOBER,
        out_dir=other,
        warehouse=root / "aside" / "warehouse.duckdb",
        shards=3,
    )
    assert _summary(other)["shards"]["shards"] == 3
    assert _loop_bytes(other) == _loop_bytes(out / "2026-10")


def test_explain_says_each_members_referral_and_file_in_october(months):
    """`ecm explain` on October's run: the state of each referral, and the member's
    file or why they are left out of their provider's."""
    from ecm.deliver.explain import explain_member

    out = months[2] / "2026-10"

    def loop_part(member_id):
        text = explain_member(member_id, out)
        return text[text.index("Referrals on") :].splitlines()

    late = loop_part("LATE")
    assert late[2].split() == [Q, "2026-08-31", "referred", "2026-08-31", "61", "yes", "(over",
                               "60", "days)"]  # fmt: skip
    assert late[-1].startswith(
        f"Member information file: ECM_MIF_{Q}_202610.txt (provider {Q}), Assignment Status "
        "continuing"
    )
    assert "Assignment Status enrolled: enrolled in ECM with this provider" in loop_part("ENR")[-1]
    dec = loop_part("DEC")
    assert dec[2].split()[2:4] == ["declined", "2026-09-03"]
    assert dec[-1] == (
        f"Member information file: left out of provider {P}'s file: its loop closed as "
        "declined on 2026-09-03 (loop_closed); it is listed again from 2027-03-03 (6 months "
        "after it closed), or sooner if the member gains a population."
    )
    # Q, never sent ELSE, says it is enrolled with Q: no referral shows it
    assert loop_part("ELSE")[-1].endswith(
        "a provider's RTF says the member is enrolled in ECM with it on the as-of date "
        "(enrolled_elsewhere; a provider never sent the member, so no referral shows it)."
    )
    assert "re-referral: listed again after its loop closed" in loop_part("GAIN")[-1]
