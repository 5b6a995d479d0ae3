"""Proposals for members with no ECM provider through the real flow (loop.md, section 4):
the roster feed read, the primary care provider from office visits, the county fallback,
room reduced by a provider span of a member holding no population, the same proposals and
files for 1, 3 and 7 shards and on Dask, and `[assignment] auto_assign` off and on.

Every member but S holds HIGH_UTIL_ADULT (five avoidable ED visits) and has no provider.
Roster: P (Alameda, 2 places), Q (Alameda, 2), R (Fresno, HOMELESS_ADULT only, 5). S holds
no population and has a span with P: P has 1 place left.
- A (Alameda, PCP P): P, `pcp`; P is then full.
- B (Alameda, PCP P): P full → the county's Q, `county_capacity`.
- C (Fresno, PCP R): R serves none of C's populations, nor does Fresno: none.
- D (Alameda, no office visit): Q (1 place left), `county_capacity`.
- E (Alameda): P and Q full: none.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from tests.feeds import line, member, write_feed
from tests.rules_file import rules_file_with

pytestmark = pytest.mark.flow
AS_OF = dt.date(2026, 8, 31)
P, Q, R = "1111111111", "2222222222", "3333333333"
COUNTY = {"A": "Alameda", "B": "Alameda", "C": "Fresno", "D": "Alameda", "E": "Alameda"}
PCP = {"A": P, "B": P, "C": R}
VISITS = ["2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10", "2026-05-10"]
NAMES = {P: "Pine Clinic", Q: "Quail Health", R: "River Care"}
"""The roster's provider names."""
EXPECTED = {
    "A": (P, "pcp"),
    "B": (Q, "county_capacity"),
    "C": (None, None),
    "D": (Q, "county_capacity"),
    "E": (None, None),
}


def _story(folder):
    members = [member(m, county=c, subscriber_id=m) for m, c in COUNTY.items()]
    members.append(member("S", county="Alameda", subscriber_id="S"))
    ed = [
        line(
            f"{m}-ed{i}",
            m,
            day,
            claim_type="institutional",
            bill_type_code="131",
            revenue_center_code="0450",
            file_date="2026-06-01",
        )
        for m in COUNTY
        for i, day in enumerate(VISITS)
    ]
    office = [
        line(
            f"{m}-ov{i}",
            m,
            day,
            hcpcs_code="99213",
            place_of_service_code="11",
            rendering_npi=npi,
            file_date="2026-06-01",
        )
        for m, npi in PCP.items()
        for i, day in enumerate(("2026-03-01", "2026-04-01"))
    ]
    write_feed(folder, "eligibility", members)
    write_feed(folder, "medical_claim", ed + office)
    write_feed(
        folder,
        "provider_assignment",
        [{"member_id": "S", "provider_npi": P, "start_date": "2026-01-01", "end_date": ""}],
    )
    write_feed(
        folder,
        "ecm_provider",
        [
            {"provider_npi": P, "provider_name": NAMES[P], "county": "Alameda", "capacity": "2"},
            {"provider_npi": Q, "provider_name": NAMES[Q], "county": "ALAMEDA", "capacity": "2"},
            {
                "provider_npi": R,
                "provider_name": NAMES[R],
                "county": "Fresno",
                "populations": "HOMELESS_ADULT",
                "capacity": "5",
            },
        ],
    )
    return folder


def _proposals(out) -> dict[str, tuple]:
    frame = pl.read_parquet(out / "assignments.parquet")
    return {
        m: (n, r)
        for m, n, r in frame.select("member_id", "proposed_provider_npi", "proposal_reason")
        .unique()
        .iter_rows()
    }


def _mif(out) -> dict[str, tuple]:
    found = {}
    for path in sorted((out / "providers").rglob("ECM_MIF_*.txt")):
        rows = pl.read_csv(path, separator="|", infer_schema=False)
        for row in rows.iter_rows(named=True):
            found[row["Member CIN"]] = (
                path.parent.name,
                row["Assignment Status"],
                row["ECM Provider NPI"],
                row["Proposed ECM Provider NPI"],
                row["Proposal Reason"],
            )
    return found


@pytest.fixture(scope="module")
def runs(harness, tmp_path_factory):
    from flows.monthly import monthly

    root = tmp_path_factory.mktemp("proposals")
    feeds = _story(root / "feeds")
    auto = rules_file_with(root / "rules", "assignment.auto_assign", True)
    outs = {}
    for name, shards, rules in (
        ("one", 1, None),
        ("three", 3, None),
        ("seven", 7, None),
        ("auto", 1, auto),
    ):
        outs[name] = root / name
        monthly(input_dir=feeds, as_of=AS_OF, out_dir=outs[name], shards=shards, rules_file=rules)
    return outs


def _proposal_files(out) -> dict[str, bytes]:
    """The bytes of the files that carry the proposals: the assignments (with
    proposed_provider_npi and proposal_reason) and every member information file."""
    paths = [out / "assignments.parquet", out / "assignments.csv"]
    paths += sorted((out / "providers").rglob("ECM_MIF_*.txt"))
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in paths}


def test_proposals_follow_pcp_then_county_room_with_capacity(runs):
    assert _proposals(runs["one"]) == EXPECTED


@pytest.mark.parametrize(("name", "shards"), [("three", 3), ("seven", 7)])
def test_the_proposals_do_not_depend_on_the_shard_count(runs, name, shards):
    """Room is counted across the whole run in member_id order, never per shard: 3 and 7
    shards (more shards than households: some are empty) write the same bytes as 1."""
    one = _proposal_files(runs["one"])
    assert "providers/unassigned/ECM_MIF_unassigned_202608.txt" in one
    assert _proposal_files(runs[name]) == one
    assert json.loads((runs[name] / "summary.json").read_text())["shards"]["shards"] == shards


@pytest.mark.dask
def test_the_proposals_on_dask_are_those_of_one_process(runs, tmp_path_factory):
    """The shards on a local Dask cluster of two workers (`ecm run --dask`, seven shards)
    write the same assignments and member information files, byte for byte."""
    from ecm.cli import _run_flow

    root = tmp_path_factory.mktemp("proposals-dask")
    out = root / "out"
    summary = _run_flow(
        runs["one"].parent / "feeds", AS_OF, out, None, None, shards=7, dask="local",
        dask_workers=2,
    )  # fmt: skip
    assert summary["shards"]["shards"] == 7
    assert (
        summary["proposals"] == json.loads((runs["one"] / "summary.json").read_text())["proposals"]
    )
    assert _proposal_files(out) == _proposal_files(runs["one"])


def test_without_auto_assign_the_proposed_stay_in_unassigned_with_the_proposal(runs):
    mif = _mif(runs["one"])
    assert mif == {m: ("unassigned", "new", None, n, r) for m, (n, r) in EXPECTED.items()}


def test_with_auto_assign_the_proposed_are_listed_new_with_their_provider(runs):
    mif = _mif(runs["auto"])
    assert mif == {
        "A": (P, "new", P, P, "pcp"),
        "B": (Q, "new", Q, Q, "county_capacity"),
        "C": ("unassigned", "new", None, None, None),
        "D": (Q, "new", Q, Q, "county_capacity"),
        "E": ("unassigned", "new", None, None, None),
    }
    referrals = pl.read_parquet(runs["auto"] / "referrals.parquet")
    assert sorted(referrals.select("member_id", "provider_npi").iter_rows()) == [
        ("A", P),
        ("B", Q),
        ("D", Q),
    ]


def test_an_auto_assigned_member_has_the_rosters_provider_name(runs):
    """A member with no provider_assignment span has no name from it: the MIF's ECM
    Provider Name is the roster's name of the provider proposed (ecm_provider)."""
    names = {}
    for path in sorted((runs["auto"] / "providers").rglob("ECM_MIF_*.txt")):
        rows = pl.read_csv(path, separator="|", infer_schema=False)
        names.update(rows.select("Member CIN", "ECM Provider Name").iter_rows())
    assert names == {"A": NAMES[P], "B": NAMES[Q], "C": None, "D": NAMES[Q], "E": None}
    # without auto_assign nobody is listed with a provider: no name
    for path in sorted((runs["one"] / "providers").rglob("ECM_MIF_*.txt")):
        rows = pl.read_csv(path, separator="|", infer_schema=False)
        assert rows["ECM Provider Name"].null_count() == rows.height


def test_the_summary_counts_proposals_by_reason_and_capacity_use(runs):
    summary = json.loads((runs["one"] / "summary.json").read_text())
    proposals = summary["proposals"]
    assert proposals["roster_providers"] == 3
    assert proposals["candidates"] == 5
    assert proposals["by_reason"] == {"pcp": 1, "county_capacity": 2}
    assert proposals["none"] == 2
    assert proposals["capacity"] == [
        {"provider_npi": P, "capacity": 2, "taken": 1, "proposed": 1, "room_left": 0},
        {"provider_npi": Q, "capacity": 2, "taken": 0, "proposed": 2, "room_left": 0},
        {"provider_npi": R, "capacity": 5, "taken": 0, "proposed": 0, "room_left": 5},
    ]


@pytest.mark.flow
def test_a_generated_run_stages_the_roster_and_proposes_by_every_reason(harness, tmp_path):
    """The generator's ecm_provider roster stages with nothing quarantined, and a generated
    run proposes providers by pcp and by county_capacity and leaves some members none
    (a full provider, a county with no roster provider)."""
    from ecm.generate import generate_feeds
    from flows.monthly import monthly

    end = dt.date(2026, 10, 31)
    feeds, out = tmp_path / "feeds", tmp_path / "out"
    generate_feeds(feeds, members=6000, months=12, end=end, seed=7, fmt="csv")
    monthly(input_dir=feeds, as_of=end, out_dir=out)
    summary = json.loads((out / "summary.json").read_text())
    proposals = summary["proposals"]
    assert proposals["roster_providers"] == 12
    assert proposals["by_reason"]["pcp"] > 0
    assert proposals["by_reason"]["county_capacity"] > 0
    assert proposals["none"] > 0
    quarantined = pl.read_parquet(out / "quarantine.parquet")
    assert quarantined.filter(pl.col("feed") == "ecm_provider").height == 0
