"""The synthetic feed generator (ecm.generate): contract, volumes, determinism, and the
planted personas, checked by their recipes (not by running the population rules)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import polars as pl
import pytest

from data_contracts import feed_order, load_contract
from ecm.generate import FEEDS, PERSONAS, generate_feeds, palette, planted_personas
from ecm.generate.calendar import Anchors, add_months, resolve, window_start
from ecm.generate.claims import npi_check_digit
from ecm.generate.feeds import (
    OWN_WRITERS,
    PLAN_LISTS,
    RUN_ANSWERS,
    PartnerFacts,
    partner_feeds,
    partner_frames,
)
from tests.conftest import CONFORMANCE

END = dt.date(2026, 10, 31)
POPULATIONS = (
    "HOMELESS_ADULT", "HOMELESS_FAMILY", "HIGH_UTIL_ADULT", "HIGH_UTIL_CHILD", "SMI_SUD_ADULT",
    "SMI_SUD_CHILD", "JUSTICE_ADULT", "JUSTICE_CHILD", "LTC_RISK_ADULT", "NF_TRANSITION_ADULT",
    "CCS_CHILD", "CHILD_WELFARE", "BIRTH_EQUITY_ADULT", "BIRTH_EQUITY_CHILD",
)  # fmt: skip
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _generate(folder: Path, **kw) -> tuple[Path, object]:
    args = {"members": 3000, "months": 12, "end": END, "seed": 7, "fmt": "csv"} | kw
    stats = generate_feeds(folder, **args)
    return folder, stats


def read_feed(folder: Path, feed: str) -> pl.DataFrame:
    """A feed of a generated folder as text columns (CSV or Parquet, file or folder)."""
    if (folder / f"{feed}.parquet").exists():
        frame = pl.read_parquet(folder / f"{feed}.parquet")
        return frame.with_columns(pl.all().cast(pl.String))
    if (folder / feed).is_dir():
        return pl.concat(
            [pl.read_csv(p, infer_schema=False) for p in sorted((folder / feed).glob("*.csv"))]
        )
    return pl.read_csv(folder / f"{feed}.csv", infer_schema=False)


def normalised(claims: pl.DataFrame) -> pl.DataFrame:
    """Codes as staging normalises them (populations.md, "Claims as delivered")."""
    return claims.with_columns(
        pl.col("diagnosis_code_1").str.replace_all(".", "", literal=True).alias("dx1"),
        pl.col("revenue_center_code").str.zfill(4).alias("rev"),
        pl.col("bill_type_code").str.replace(r"^0(\w{3})$", "$1").alias("bill"),
    )


@pytest.fixture(scope="module")
def csv_feeds(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("csv"))


@pytest.fixture(scope="module")
def parquet_feeds(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("parquet"), fmt="parquet")


@pytest.fixture(scope="module")
def claims(csv_feeds) -> pl.DataFrame:
    return normalised(read_feed(csv_feeds[0], "medical_claim"))


@pytest.fixture(scope="module")
def eligibility(csv_feeds) -> pl.DataFrame:
    return read_feed(csv_feeds[0], "eligibility").with_columns(pl.col("^.*_date$").str.to_date())


# 24 months, enough members for every recipe to be planted twice.
PERSONA_MEMBERS, PERSONA_MONTHS = 5000, 24


@pytest.fixture(scope="module")
def persona_feeds(tmp_path_factory):
    return _generate(
        tmp_path_factory.mktemp("personas"), members=PERSONA_MEMBERS, months=PERSONA_MONTHS, seed=11
    )


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- determinism -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_the_same_bytes_another_seed_does_not(tmp_path, fmt):
    args = {"members": 800, "months": 6, "end": END, "fmt": fmt}
    generate_feeds(tmp_path / "a", seed=3, **args)
    generate_feeds(tmp_path / "b", seed=3, **args)
    generate_feeds(tmp_path / "c", seed=4, **args)
    a, b, c = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert a["eligibility." + fmt] != c["eligibility." + fmt]


def test_regenerating_into_a_folder_replaces_the_previous_files(tmp_path):
    generate_feeds(tmp_path, members=300, months=6, end=END)
    before = _digest(tmp_path)
    generate_feeds(tmp_path, members=300, months=3, end=END)
    after = _digest(tmp_path)
    assert len([k for k in after if k.startswith("medical_claim/")]) == 3
    assert after != before
    generate_feeds(tmp_path, members=300, months=6, end=END)
    assert _digest(tmp_path) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"members": 0}, "members"), ({"months": 0}, "months"), ({"fmt": "xlsx"}, "fmt")],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_feeds(tmp_path, **({"members": 10, "months": 1, "end": END} | kwargs))


# --- the contract ------------------------------------------------------------------------


def test_every_feed_is_written_with_its_contract_columns(csv_feeds):
    """The generator writes every contract's feed, in the contract's columns and order
    (data_contracts: the one place a feed's columns are written), but the providers'
    answers to a run's member information files (the RTF and OTF follow a run)."""
    folder, stats = csv_feeds
    assert RUN_ANSWERS == ("provider_return", "outreach")
    assert tuple(f for f in feed_order() if f not in RUN_ANSWERS) == FEEDS
    assert PLAN_LISTS == ("ecm_provider",)
    assert not [p for p in folder.iterdir() if p.name.startswith(RUN_ANSWERS)]
    for feed in FEEDS:
        header = read_feed(folder, feed).columns
        assert header == list(load_contract(feed).columns), feed
        assert stats.rows[feed] > 0, feed


def test_the_roster_names_the_assignment_providers_with_room_by_county(csv_feeds):
    """ecm_provider: one row per ECM provider of provider_assignment, each in a county of
    the generated members, some serving every population (empty), capacities at least the
    spans they hold; and some office visits are rendered by a roster NPI (the pcp rule)."""
    folder, _ = csv_feeds
    roster = read_feed(folder, "ecm_provider")
    spans = read_feed(folder, "provider_assignment")
    members = read_feed(folder, "eligibility")
    assert roster.height == len(palette.ECM_PROVIDERS)
    assert set(roster["provider_npi"]) == set(spans["provider_npi"])
    assert set(roster["county"]) <= set(members["county"])
    assert roster["populations"].is_null().any() or (roster["populations"] == "").any()
    assert roster["capacity"].cast(pl.Int64).min() >= 0
    claims = read_feed(folder, "medical_claim")
    assert claims.filter(pl.col("rendering_npi").is_in(roster["provider_npi"])).height > 0
    again = _generate(folder.parent / "again")[0]
    assert read_feed(again, "ecm_provider").equals(roster)


def test_a_feed_without_a_writer_of_its_own_is_a_partner_feed():
    assert set(partner_feeds()) == (
        set(feed_order()) - set(OWN_WRITERS) - set(RUN_ANSWERS) - set(PLAN_LISTS)
    )
    assert partner_feeds() == (
        "incarceration",
        "child_welfare",
        "ccs_enrollment",
        "homelessness",
        "nursing_facility_assessment",
        "program_enrollment",
    )


def test_a_partner_row_names_only_its_contract_columns():
    facts = PartnerFacts()
    with pytest.raises(ValueError, match="release_day is not a column of the incarceration"):
        facts.add("incarceration", 0, release_day=0)
    facts.add("incarceration", [1, 0], facility_type="county_jail", release_date=20_000)
    frame = partner_frames(facts, first=0)["incarceration"]
    assert frame.columns == list(load_contract("incarceration").columns)
    assert frame.rows() == [
        ("M00000001", "county_jail", None, dt.date(2024, 10, 4), None),
        ("M00000002", "county_jail", None, dt.date(2024, 10, 4), None),
    ]


def test_medical_claim_columns_are_the_tuva_input_layer(csv_feeds):
    seed = CONFORMANCE / "medical_claim_seed.csv"
    header = seed.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert sorted(load_contract("medical_claim").columns) == sorted(header)


def test_eligibility_names_the_brief_columns():
    assert set(load_contract("eligibility").columns) == {
        "member_id", "person_id", "subscriber_id", "birth_date", "death_date", "gender", "race",
        "ethnicity", "enrollment_start_date", "enrollment_end_date", "payer", "plan",
        "dual_status_code", "first_name", "last_name", "address", "city", "state", "zip_code",
        "phone", "aid_code", "county", "preferred_language", "data_source", "file_date",
    }  # fmt: skip


def test_dates_are_iso(csv_feeds):
    folder, _ = csv_feeds
    for feed in FEEDS:
        frame = read_feed(folder, feed)
        for column in [c for c in frame.columns if c.endswith("_date")]:
            values = frame[column].drop_nulls()
            assert values.str.contains(ISO_DATE.pattern).all(), (feed, column)


def test_csv_and_parquet_hold_the_same_rows(csv_feeds, parquet_feeds):
    csv_folder, csv_stats = csv_feeds
    pq_folder, pq_stats = parquet_feeds
    assert csv_stats.rows == pq_stats.rows
    assert sorted(p.name for p in pq_folder.iterdir() if not p.name.startswith(".")) == sorted(
        f"{f}.parquet" for f in FEEDS
    )
    for feed in FEEDS:
        from_csv = read_feed(csv_folder, feed)
        from_parquet = pl.read_parquet(pq_folder / f"{feed}.parquet")
        assert from_csv.height == from_parquet.height == csv_stats.rows[feed], feed
        assert from_parquet.columns == from_csv.columns, feed
    assert set(pq_stats.files) == {pq_folder / f"{f}.parquet" for f in FEEDS}


def test_medical_claims_arrive_as_monthly_drops(csv_feeds, claims):
    folder, stats = csv_feeds
    assert not (folder / "medical_claim.csv").exists()
    drops = sorted((folder / "medical_claim").glob("*.csv"))
    assert [p.name for p in drops] == [
        f"medical_claim_{add_months(dt.date(2025, 12, 1), i):%Y-%m}.csv" for i in range(12)
    ]
    assert set(drops) <= set(stats.files)
    for path in drops:
        month = path.stem.removeprefix("medical_claim_")
        dates = pl.read_csv(path, infer_schema=False, columns=["file_date"])["file_date"]
        assert (dates == f"{month}-01").all(), path.name


def test_claim_ids_lines_and_sources(claims):
    per_claim = claims.group_by("data_source", "claim_id", "file_date").agg(
        pl.col("claim_line_number").cast(pl.Int32).sort().alias("lines"),
        pl.col("member_id").n_unique().alias("members"),
    )
    assert (per_claim["members"] == 1).all()
    assert per_claim.select(
        (pl.col("lines") == pl.int_ranges(1, pl.col("lines").list.len() + 1)).all()
    ).item()
    # one claim id, one source and one member
    owners = claims.group_by("claim_id").agg(
        pl.col("data_source").n_unique(), pl.col("member_id").n_unique()
    )
    assert (owners["data_source"] == 1).all()
    assert (owners["member_id"] == 1).all()
    assert set(claims["data_source"].unique()) == {"medi-cal ffs", "plan encounters"}
    assert claims["member_id"].str.contains(r"^M\d{8}$").all()


def test_file_dates_follow_service_with_some_late_arrivals(claims):
    first = (
        claims.with_columns(pl.col("claim_end_date", "file_date").str.to_date())
        .sort("file_date")
        .group_by("data_source", "claim_id", maintain_order=True)
        .first()
        .with_columns(
            lag=(pl.col("file_date").dt.year() * 12 + pl.col("file_date").dt.month())
            - (pl.col("claim_end_date").dt.year() * 12 + pl.col("claim_end_date").dt.month())
        )
    )
    assert first["lag"].min() >= 1
    assert first["lag"].max() <= 4
    late = (first["lag"] >= 2).mean()
    assert 0.05 < late < 0.3


# --- volumes and members -----------------------------------------------------------------


def _enrolled_member_years(eligibility: pl.DataFrame, months: int) -> float:
    start = window_start(END, months)
    days = eligibility.select(
        (
            pl.min_horizontal(
                pl.col("enrollment_end_date").fill_null(END),
                pl.col("death_date").fill_null(END),
                pl.lit(END),
            )
            - pl.max_horizontal("enrollment_start_date", pl.lit(start))
        ).dt.total_days()
        + 1
    ).to_series()
    return float(days.clip(lower_bound=0).sum()) / 365.25


def test_claim_lines_per_member_year_are_medi_cal_like(claims, eligibility):
    years = _enrolled_member_years(eligibility, 12)
    assert 15 <= claims.height / years <= 20
    members = eligibility["member_id"].n_unique()
    per_member = (
        eligibility.select("member_id")
        .unique()
        .join(claims.group_by("member_id").len(), on="member_id", how="left")["len"]
        .fill_null(0)
    )
    # a heavy tail: most members few lines, the top 1% a large share
    assert per_member.median() < per_member.mean()
    top = per_member.sort(descending=True).head(members // 100).sum()
    assert top / claims.height > 0.05
    assert per_member.max() > 10 * per_member.mean()


def test_members_have_a_medi_cal_shape(eligibility):
    members = eligibility.unique("member_id", keep="first")
    age = members.select(
        ((pl.lit(END) - pl.col("birth_date")).dt.total_days() / 365.25).floor().alias("age")
    )["age"]
    assert age.min() >= 0 and age.max() <= 96
    assert 0.33 < (age < 21).mean() < 0.43
    race = members["race"].value_counts(normalize=True)
    share = dict(zip(race["race"], race["proportion"], strict=True))
    assert set(share) == {r for r, _, _ in palette.RACES}
    assert 0.37 < share["other race"] < 0.53 and 0.14 < share["white"] < 0.26
    assert 0.4 < (members["ethnicity"] == "hispanic or latino").mean() < 0.6
    # households: children carry a parent's subscriber id
    subscribers = members.filter(pl.col("member_id") != pl.col("subscriber_id"))
    assert subscribers.height > 0.2 * members.height
    heads = members.select(
        pl.col("member_id").alias("subscriber_id"), pl.col("birth_date").alias("head_birth")
    )
    linked = subscribers.join(heads, on="subscriber_id")
    assert linked.height == subscribers.height
    # churn: gaps, ends before the end date, late starts, a few deaths
    spans = eligibility.group_by("member_id").len()
    assert (spans["len"] == 2).sum() > 0.03 * members.height
    assert members.filter(pl.col("enrollment_end_date") < END).height > 0.03 * members.height
    assert (
        members.filter(pl.col("enrollment_start_date") > window_start(END, 12)).height
        > 0.03 * members.height
    )
    assert 0 < members["death_date"].is_not_null().sum() < 0.02 * members.height
    assert (eligibility["enrollment_start_date"] >= eligibility["birth_date"]).all()


# --- claim content -------------------------------------------------------------------------


def test_codes_come_in_both_written_forms(claims):
    dx = claims["diagnosis_code_1"].drop_nulls()
    dotted = dx.str.contains(".", literal=True).mean()
    assert 0.05 < dotted < 0.2
    assert claims["diagnosis_code_1"].drop_nulls().str.contains(r"^[A-Z]\d{2}\.\w+$").any()
    rev = claims["revenue_center_code"].drop_nulls().str.len_chars()
    assert set(rev.unique()) == {3, 4} and 0.03 < (rev == 3).mean() < 0.2
    bill = claims["bill_type_code"].drop_nulls()
    assert bill.str.contains(r"^0\d{3}$").any() and bill.str.contains(r"^\d{3}$").mean() > 0.8
    # the dotted and the plain form name the same codes
    assert set(
        claims.filter(pl.col("diagnosis_code_1").str.contains(".", literal=True))["dx1"]
    ) & set(claims.filter(~pl.col("diagnosis_code_1").str.contains(".", literal=True))["dx1"])


def test_some_institutional_claims_are_corrected_or_voided(claims):
    inst = claims.filter(pl.col("claim_type") == "institutional")
    versions = (
        inst.group_by("data_source", "claim_id", "file_date")
        .agg(pl.col("bill").first(), pl.col("dx1").first(), pl.len().alias("lines"))
        .sort("file_date")
        .group_by("data_source", "claim_id", maintain_order=True)
        .agg(pl.all())
    )
    again = versions.filter(pl.col("file_date").list.len() > 1)
    share = again.height / versions.height
    assert 0.01 < share < 0.05
    last_bill = again["bill"].list.last()
    voided = again.filter(last_bill.str.ends_with("8"))
    corrected = again.filter(last_bill.str.ends_with("7"))
    assert voided.height > 0 and corrected.height > 0
    assert voided.height < corrected.height
    # a void repeats every line; a correction changes the first diagnosis of most
    assert (voided["lines"].list.first() == voided["lines"].list.last()).all()
    changed = (corrected["dx1"].list.first() != corrected["dx1"].list.last()).mean()
    assert changed > 0.5


@pytest.fixture(scope="module")
def persona_claims(persona_feeds) -> pl.DataFrame:
    return normalised(read_feed(persona_feeds[0], "medical_claim"))


def _exists(frame: pl.DataFrame, predicate: pl.Expr) -> bool:
    return frame.filter(predicate).height > 0


PROFESSIONAL = pl.col("claim_type") == "professional"
DX1, BILL, REV = pl.col("dx1"), pl.col("bill"), pl.col("rev")
POS, HCPCS, ADMIT_TYPE = (
    pl.col("place_of_service_code"),
    pl.col("hcpcs_code"),
    pl.col("admit_type_code"),
)
NF_FINAL = BILL.str.contains(r"^(21|18)[14]$")
DISPOSITION = pl.col("discharge_disposition_code")
SECONDARY_Z59 = pl.any_horizontal(
    pl.col(f"diagnosis_code_{i}").str.replace(".", "", literal=True).str.starts_with("Z59")
    for i in range(2, 13)
)
CLAIM_KINDS = {
    "office visit E/M, POS 11": PROFESSIONAL & (POS == "11") & HCPCS.is_in(["99213", "99214"]),
    "ED facility claim 131 with revenue 045x": BILL.str.starts_with("13")
    & REV.str.starts_with("045"),
    "ED facility line with HCPCS 9928x": REV.str.starts_with("045") & HCPCS.str.starts_with("9928"),
    "ED professional claim POS 23": PROFESSIONAL & (POS == "23") & HCPCS.str.starts_with("9928"),
    "acute inpatient 111 with DRG": (BILL == "111") & pl.col("drg_code").is_not_null(),
    "interim bills 112/113/114": BILL.is_in(["112", "113", "114"]),
    "admit type 1": ADMIT_TYPE == "1",
    "admit type 2": ADMIT_TYPE == "2",
    "admit type 3": ADMIT_TYPE == "3",
    "admit type 5": ADMIT_TYPE == "5",
    "admit type 9": ADMIT_TYPE == "9",
    "blank admit type on 11x": BILL.str.starts_with("11") & ADMIT_TYPE.is_null(),
    "delivery stay O80 DRG 807": (DX1 == "O80") & (pl.col("drg_code") == "807"),
    "newborn stay admit type 4": (ADMIT_TYPE == "4") & DX1.str.starts_with("Z38"),
    "psychiatric room 0114/0124, F principal": REV.is_in(["0114", "0124"])
    & DX1.str.starts_with("F"),
    "nursing facility 21x": BILL.str.starts_with("21"),
    "swing bed 18x": BILL.str.starts_with("18"),
    "NF discharge home 01": NF_FINAL & (DISPOSITION == "01"),
    "NF discharge home health 06": NF_FINAL & (DISPOSITION == "06"),
    "NF discharge to SNF 03": NF_FINAL & (DISPOSITION == "03"),
    "NF discharge expired 20": NF_FINAL & (DISPOSITION == "20"),
    "urgent care POS 20": PROFESSIONAL & (POS == "20"),
    "crisis H2011": HCPCS == "H2011",
    "crisis S9484": HCPCS == "S9484",
    "crisis 90839": HCPCS == "90839",
    "ACE screening G9919": HCPCS == "G9919",
    "lab POS 81": PROFESSIONAL & (POS == "81"),
    "secondary dx Z59": SECONDARY_Z59,
    "dx beyond position 4": pl.col("diagnosis_code_5").is_not_null(),
    "ICD-10-PCS procedure": pl.col("procedure_code_type") == "icd-10-pcs",
    "overdose T401X1A": DX1 == "T401X1A",
    "newer code R519 (prefix fallback)": DX1 == "R519",
    "U071 (not in the NYU table)": DX1 == "U071",
}


@pytest.mark.parametrize("kind", list(CLAIM_KINDS))
def test_claims_of_every_kind_are_present(persona_claims, kind):
    assert _exists(persona_claims, CLAIM_KINDS[kind]), kind


def _stays(claims: pl.DataFrame) -> pl.DataFrame:
    return (
        claims.filter(pl.col("bill").str.starts_with("11"))
        .group_by("data_source", "claim_id")
        .agg(
            pl.col("member_id").first(),
            pl.col("admission_date").first().str.to_date(),
            pl.col("claim_end_date").max().str.to_date(),
            pl.col("admit_source_code").first(),
            pl.col("discharge_disposition_code").first(),
            pl.col("facility_npi").first(),
        )
    )


def test_ed_visits_pair_a_facility_and_a_professional_claim(persona_claims):
    facility = (
        persona_claims.filter(
            pl.col("bill").str.starts_with("13") & pl.col("rev").str.starts_with("045")
        )
        .select("member_id", "claim_start_date")
        .unique()
    )
    professional = (
        persona_claims.filter(pl.col("place_of_service_code") == "23")
        .select("member_id", "claim_start_date")
        .unique()
    )
    paired = facility.join(professional, on=["member_id", "claim_start_date"]).height
    assert paired / facility.height > 0.85
    # some ED visits are followed by an admission the same or the next day
    visits = professional.with_columns(pl.col("claim_start_date").str.to_date())
    stays = _stays(persona_claims)
    admitted = visits.join(stays, on="member_id").filter(
        (pl.col("admission_date") - pl.col("claim_start_date")).dt.total_days().is_in([0, 1])
    )
    assert admitted.height > 0


def test_some_stays_are_transfers_to_a_second_hospital(persona_claims):
    stays = _stays(persona_claims)
    pairs = stays.join(stays, on="member_id", suffix="_next").filter(
        (pl.col("admit_source_code_next") == "4")
        & ((pl.col("admission_date_next") - pl.col("claim_end_date")).dt.total_days().is_in([0, 1]))
        & (pl.col("facility_npi") != pl.col("facility_npi_next"))
        & (pl.col("discharge_disposition_code") == "02")
    )
    assert pairs.height >= 2


def test_avoidable_ed_share_is_realistic(ref):
    """The ED diagnosis palette, weighted, against the Johnston table (longest prefix)."""
    table = {r["icd10"]: r for r in ref.nyu_icd10.iter_rows(named=True)}
    weight = {"avoidable": 0.0, "not avoidable": 0.0, "unclassified": 0.0}
    special = ("injury", "psych", "alcohol", "drug")
    for code, w in palette.ED_DX:
        row = next((table[code[:n]] for n in range(len(code), 2, -1) if code[:n] in table), None)
        if row is None:
            weight["unclassified"] += w
        elif (
            not any(row[s] >= 1 for s in special)
            and row["noner"] + row["epct"] + row["edcnpa"] > 0.5
        ):
            weight["avoidable"] += w
        else:
            weight["not avoidable"] += w
    total = sum(weight.values())
    assert 0.4 < weight["avoidable"] / total < 0.65
    assert weight["unclassified"] > 0
    # newer codes exercise the prefix fallback: not in the table, their prefix is
    for code in ("R519", "M5450"):
        assert code not in table and code[:-1] in table
    for code in ("U071", "Z5901"):
        assert all(code[:n] not in table for n in range(3, len(code) + 1))


def _in_value_set(code: str, frame: pl.DataFrame) -> bool:
    for row in frame.iter_rows(named=True):
        if (row["match"] == "exact" and code == row["code"]) or (
            row["match"] == "prefix" and code.startswith(row["code"])
        ):
            return True
    return False


CONDITION_VALUE_SETS = {
    "chronic_child": "chronic_condition",
    "chronic_adult": "chronic_condition",
    "smi": "smi",
    "sud": "sud",
    "idd": "idd",
    "hiv": "hiv_aids",
    "tbi": "tbi",
    "social": "complex_social_factor_dx",
    "homeless_dx": "homelessness_dx",
}


@pytest.mark.parametrize(("condition", "value_set"), list(CONDITION_VALUE_SETS.items()))
def test_condition_codes_hit_their_value_set(ref, condition, value_set):
    codes = next(c[-1] for c in palette.CONDITIONS if c[0] == condition)
    vs = ref.value_set(value_set)
    missing = [c for c in codes if not _in_value_set(c, vs)]
    assert not missing


def test_pregnancy_and_overdose_codes_hit_their_value_sets(ref):
    for codes, value_set in (
        (palette.PRENATAL_DX, "pregnancy_postpartum"),
        (palette.POSTPARTUM_DX, "pregnancy_postpartum"),
        (palette.PREGNANCY_LOSS_DX, "pregnancy_end_dx"),
        (("T401X1A", "T424X1A", "T436X1A", "T40411A"), "overdose"),
        (("R45851", "T1491XA"), "suicidality"),
        ((palette.DELIVERY_VAGINAL[1], palette.DELIVERY_CESAREAN[1]), "delivery_drg"),
        (palette.CRISIS_CODES and [c for c, _ in palette.CRISIS_CODES], "crisis_service"),
        (palette.PSYCH_ROOM_REVENUE, "psychiatric_revenue_code"),
    ):
        vs = ref.value_set(value_set)
        assert all(_in_value_set(c, vs) for c in codes), value_set
    # the mental-health condition "mh_other" is MH/SUD but not SMI (F41.1, F90.9 ...)
    smi = ref.value_set("smi")
    mh = next(c[-1] for c in palette.CONDITIONS if c[0] == "mh_other")
    assert not any(_in_value_set(c, smi) for c in mh)


# --- partner feeds -----------------------------------------------------------------------


def test_partner_feeds_have_medi_cal_like_shares(csv_feeds, eligibility):
    folder, _ = csv_feeds
    members = eligibility.unique("member_id").with_columns(
        age=((pl.lit(END) - pl.col("birth_date")).dt.total_days() / 365.25).floor()
    )
    n = members.height
    persona_ids = set(planted_personas(n, months=12, end=END)["member_id"])
    base = members.filter(~pl.col("member_id").is_in(persona_ids))
    ages = dict(zip(members["member_id"], members["age"], strict=True))

    jail = read_feed(folder, "incarceration").filter(~pl.col("member_id").is_in(persona_ids))
    assert 0.004 < jail["member_id"].n_unique() / base.height < 0.02
    assert set(jail["facility_type"]) <= {
        "state_prison",
        "county_jail",
        "youth_correctional",
        "other",
    }
    youth = jail.filter(pl.col("facility_type") == "youth_correctional")
    assert youth.height > 0 and all(ages[m] < 21 for m in youth["member_id"])
    assert jail["release_date"].is_null().any() and jail["release_date"].is_not_null().any()

    welfare = read_feed(folder, "child_welfare")
    assert set(welfare["status"]) == {
        "foster_care",
        "adoption_assistance",
        "family_maintenance",
        "aged_out_foster_care",
    }
    children = base.filter(pl.col("age") < 21).height
    kids = welfare.filter(
        pl.col("status") != "aged_out_foster_care", ~pl.col("member_id").is_in(persona_ids)
    )
    assert 0.015 < kids["member_id"].n_unique() / children < 0.05
    aged_out = welfare.filter(
        pl.col("status") == "aged_out_foster_care", ~pl.col("member_id").is_in(persona_ids)
    )
    assert all(18 <= ages[m] <= 25 for m in aged_out["member_id"])

    ccs = read_feed(folder, "ccs_enrollment")
    assert set(ccs["program"]) == {"CCS", "CCS_WCM"}
    assert ccs["end_date"].is_null().any() and (ccs["end_date"].drop_nulls() < str(END)).any()

    homeless = read_feed(folder, "homelessness").filter(~pl.col("member_id").is_in(persona_ids))
    assert 0.01 < homeless["member_id"].n_unique() / base.height < 0.05
    assert homeless["exit_date"].is_null().any()

    mds = read_feed(folder, "nursing_facility_assessment")
    for column in (
        "meets_snf_level_of_care",
        "needs_lower_acuity_skilled_nursing",
        "interested_in_community_transition",
        "able_to_reside_in_community",
    ):
        assert set(mds[column]) == {"Y", "N"}, column
    assert set(mds["residence_setting"]) == {"nursing_facility", "community"}
    per_member = mds.group_by("member_id").agg(
        pl.len(), pl.col("assessment_date").n_unique().alias("dates")
    )
    base_members = per_member.filter(~pl.col("member_id").is_in(persona_ids))
    assert (base_members["len"] > 1).all()  # several assessments per member
    assert (per_member["dates"] < per_member["len"]).any()  # some share a date


def test_program_enrollment_and_hospice_claims(csv_feeds, eligibility, claims):
    """A few percent of members in a program that duplicates ECM (hospice, CCM, D-SNP, ...)
    or in SMHS targeted case management (which does not), some spans ended before the end
    date; hospice stays billed monthly with bill types 81x and 82x, some touching the last
    60 days and some not."""
    folder, _ = csv_feeds
    programs = read_feed(folder, "program_enrollment")
    members = eligibility["member_id"].n_unique()
    assert 0.01 < programs["member_id"].n_unique() / members < 0.05
    assert {"hospice", "CCM", "D-SNP", "SMHS TCM"} <= set(programs["program"])
    assert (programs["end_date"].drop_nulls() < str(END)).any()  # a span ended before D
    assert programs["end_date"].is_null().any() and (programs["end_date"] > str(END)).any()
    assert (programs["start_date"] <= programs["end_date"].fill_null("9999")).all()
    hospice = claims.filter(pl.col("bill").str.contains(r"^8[12]"))
    assert set(hospice["bill"].str.slice(0, 2)) == {"81", "82"}
    assert (hospice["claim_type"] == "institutional").all()
    assert (hospice["rev"] == "0651").all()
    recent = str(END - dt.timedelta(days=59))
    by_member = hospice.group_by("member_id").agg(pl.col("claim_end_date").max().alias("last"))
    assert (by_member["last"] >= recent).any() and (by_member["last"] < recent).any()
    # Hospice claims without a program_enrollment row: hospice from claims alone.
    assert not set(by_member["member_id"]) <= set(programs["member_id"])


def test_the_programs_and_hospice_claims_leave_every_other_row_as_it_was(tmp_path, monkeypatch):
    """They draw from a random stream of their own: without them, every other feed holds
    the same rows."""
    folder, _ = _generate(tmp_path / "with", members=600)
    monkeypatch.setattr(palette, "PROGRAM_ENROLLMENT_SHARE", 0.0)
    monkeypatch.setattr(palette, "HOSPICE_CLAIMS_ONLY_SHARE", 0.0)
    bare, _ = _generate(tmp_path / "without", members=600)
    assert read_feed(bare, "program_enrollment").height == 0
    for feed in FEEDS:
        if feed in ("program_enrollment", "medical_claim"):
            continue
        assert read_feed(folder, feed).equals(read_feed(bare, feed)), feed
    claims = normalised(read_feed(folder, "medical_claim"))
    others = claims.filter(~pl.col("bill").fill_null("").str.contains(r"^8[12]"))
    assert others.drop("dx1", "rev", "bill").equals(read_feed(bare, "medical_claim"))


def test_provider_assignment_names_ecm_providers(csv_feeds, eligibility):
    folder, _ = csv_feeds
    spans = read_feed(folder, "provider_assignment")
    npis = spans.select("provider_npi", "provider_name").unique()
    assert npis.height == len(palette.ECM_PROVIDERS)
    assert npis["provider_npi"].str.contains(r"^\d{10}$").all()
    assert all(npi[-1] == npi_check_digit(npi[:9]) for npi in npis["provider_npi"])
    members = eligibility["member_id"].n_unique()
    assigned = spans["member_id"].n_unique()
    assert 0.02 < 1 - assigned / members < 0.08
    two = (
        spans.group_by("member_id")
        .agg(pl.len(), pl.col("end_date").is_null().sum().alias("open"))
        .filter(pl.col("len") == 2)
    )
    assert two.height > 0 and (two["open"] == 2).any()


def test_pharmacy_claims(csv_feeds):
    folder, _ = csv_feeds
    rx = read_feed(folder, "pharmacy_claim")
    assert rx["claim_id"].is_unique().all()
    assert rx["ndc_code"].str.contains(r"^\d{11}$").all()
    assert (rx["data_source"] == palette.PHARMACY_SOURCE).all()


# --- personas ----------------------------------------------------------------------------


def test_every_population_has_members_and_near_misses_at_20000():
    plan = planted_personas(20_000, months=24, end=END)
    assert set(plan["persona"]) == set(PERSONAS)
    counts = (
        plan.filter(pl.col("population").is_not_null())
        .group_by("population")
        .agg(
            pl.col("qualifies").sum().alias("members"),
            (~pl.col("qualifies")).sum().alias("near_misses"),
        )
    )
    assert set(counts["population"]) == set(POPULATIONS)
    assert (counts["members"] > 0).all() and (counts["near_misses"] > 0).all()
    assert 0.01 < plan.height / 20_000 < 0.06
    assert plan["member_id"].is_unique().all()


def test_a_short_window_plants_only_recipes_it_can_hold():
    plan = planted_personas(20_000, months=12, end=END)
    assert "justice_adult_prison_sud" not in set(plan["persona"])  # needs a claim 18 months back
    assert "high_util_adult_ed5" in set(plan["persona"])


@pytest.fixture(scope="module")
def planted(persona_feeds) -> pl.DataFrame:
    return planted_personas(PERSONA_MEMBERS, months=PERSONA_MONTHS, end=END)


def test_every_recipe_is_planted(planted):
    assert set(planted["persona"]) == set(PERSONAS)


def _day(expr: str, anchors: Anchors, birth: dt.date) -> str:
    return resolve(expr, anchors, birth).isoformat()


def test_planted_personas_carry_their_recipes(persona_feeds, persona_claims, planted):
    """Each planted member has the attributes, claims and feed rows its recipe names."""
    folder, _ = persona_feeds
    anchors = Anchors.of(END, PERSONA_MONTHS)
    ids = planted["member_id"].to_list()
    people = read_feed(folder, "eligibility").filter(pl.col("member_id").is_in(ids))
    by_member = {k[0]: v for k, v in people.partition_by("member_id", as_dict=True).items()}
    lines = persona_claims.filter(pl.col("member_id").is_in(ids))
    claims_of = {k[0]: v for k, v in lines.partition_by("member_id", as_dict=True).items()}
    feeds = {
        feed: read_feed(folder, feed).filter(pl.col("member_id").is_in(ids))
        for feed in partner_feeds()
    }
    empty = persona_claims.clear()
    rows = planted.select("member_id", "persona", "role").iter_rows()
    for member_id, persona, role_index in rows:
        role = PERSONAS[persona].roles[role_index]
        who = f"{member_id} {persona} role {role_index}"
        person = by_member[member_id]
        birth = dt.date.fromisoformat(person["birth_date"][0])
        _check_person(person, role, anchors, birth, who)
        mine = claims_of.get(member_id, empty)
        for claim in role.claims:
            _check_claim(mine, claim, _day(claim.at, anchors, birth), who)
        for row in role.rows:
            found = feeds[row.feed].filter(pl.col("member_id") == member_id)
            for column, value in row.values.items():
                expected = value
                if column.endswith("_date"):
                    expected = _day(value, anchors, birth) if value else None
                match = pl.col(column).is_null() if expected is None else pl.col(column) == expected
                found = found.filter(match)
            assert found.height >= 1, (who, row)


def _check_person(person: pl.DataFrame, role, anchors: Anchors, birth: dt.date, who: str) -> None:
    age = (END.year - birth.year) - ((END.month, END.day) < (birth.month, birth.day))
    if role.birth:
        assert person["birth_date"][0] == _day(role.birth, anchors, birth), who
    else:
        assert role.age[0] <= age <= role.age[1], who
    if role.sex:
        assert person["gender"][0] == role.sex, who
    if role.race:
        assert person["race"][0] == role.race, who
    if role.enrolled_until:
        until = _day(role.enrolled_until, anchors, birth)
        assert person["enrollment_end_date"].to_list() == [until], who
    elif not role.died:
        assert person["enrollment_end_date"].is_null().all(), who
    died = _day(role.died, anchors, birth) if role.died else None
    assert person["death_date"][0] == died, who


def _check_claim(mine: pl.DataFrame, claim, day: str, who: str) -> None:
    what = f"{who}: {claim.kind} on {day}"
    if claim.kind in {"stay", "nf"}:
        _check_stay(mine, claim, day, what)
    elif claim.kind == "ed":
        _check_ed_visit(mine.filter(pl.col("claim_start_date") == day), claim, what)
    else:
        _check_visit(mine.filter(pl.col("claim_start_date") == day), claim, what)


def _check_stay(mine: pl.DataFrame, claim, day: str, what: str) -> None:
    prefix = ("21", "18") if claim.kind == "nf" else ("11",)
    stay = mine.filter(BILL.str.slice(0, 2).is_in(prefix) & (pl.col("admission_date") == day))
    assert stay.height > 0, what
    if claim.bill_type:
        assert stay["bill"].str.starts_with(claim.bill_type[:2]).all(), what
    if claim.kind == "nf":
        final = stay.filter(pl.col("discharge_date").is_not_null())
        if claim.ongoing:
            assert final.is_empty() and stay["claim_end_date"].max() == END.isoformat(), what
        else:
            assert set(final["discharge_disposition_code"]) == {claim.disposition}, what
        return
    assert (stay["dx1"] == claim.dx[0]).all(), what
    assert set(stay["admit_type_code"].fill_null("")) == {claim.admit_type}, what
    assert not claim.drg or (stay["drg_code"] == claim.drg).all(), what
    assert not claim.room or (stay["rev"] == claim.room).any(), what
    if claim.interim:
        assert sorted(stay["bill"].unique()) == ["112", "113", "114"][: claim.interim], what
        assert stay["claim_id"].n_unique() == claim.interim, what


def _check_ed_visit(same_day: pl.DataFrame, claim, what: str) -> None:
    facility = same_day.filter(BILL.str.starts_with("13") & REV.str.starts_with("045"))
    professional = same_day.filter(POS == "23")
    assert facility.height > 0, what
    assert professional.is_empty() if claim.facility_only else professional.height > 0, what
    versions = (
        facility.sort("file_date")
        .group_by("file_date", maintain_order=True)
        .agg(pl.col("bill").first(), pl.col("dx1").first())
    )
    assert versions["dx1"][0] == claim.dx[0], what
    if claim.voided:
        assert versions["bill"].to_list() == ["131", "138"], what
    elif claim.corrected_dx:
        assert versions["bill"].to_list() == ["131", "137"], what
        assert versions["dx1"][1] == claim.corrected_dx, what
    else:
        assert versions.height == 1, what


def _check_visit(same_day: pl.DataFrame, claim, what: str) -> None:
    visit = same_day.filter(PROFESSIONAL, pl.col("dx1") == claim.dx[0])
    assert visit.height > 0, what
    place = {"urgent": "20", "lab": "81", "office": "11", "prenatal": "11", "preventive": "11"}
    places = set(visit["place_of_service_code"])
    assert claim.kind not in place or place[claim.kind] in places, what
    for code in (claim.hcpcs, claim.extra_hcpcs):
        assert not code or (visit["hcpcs_code"] == code).any(), what
    all_dx = pl.concat_list(pl.col("^diagnosis_code_\\d+$")).explode().drop_nulls()
    codes = set(visit.select(all_dx.str.replace(".", "", literal=True)).to_series())
    assert set(claim.dx) <= codes, what


def test_personas_get_no_random_utilisation_that_touches_a_rule(persona_claims, planted):
    """Besides its recipe, a persona's claims carry only screening-lab diagnoses."""
    allowed: dict[str, set[str]] = {}
    for member_id, persona, role_index in planted.select(
        "member_id", "persona", "role"
    ).iter_rows():
        role = PERSONAS[persona].roles[role_index]
        codes = {"Z0000", "Z00129"}
        for claim in role.claims:
            codes |= set(claim.dx) | ({claim.corrected_dx} - {""})
        allowed[member_id] = codes
    mine = persona_claims.filter(pl.col("member_id").is_in(list(allowed)))
    found = (
        mine.select("member_id", pl.concat_list(pl.col("^diagnosis_code_\\d+$")).alias("dx"))
        .explode("dx")
        .drop_nulls("dx")
        .with_columns(pl.col("dx").str.replace(".", "", literal=True))
        .unique()
    )
    stray = [(m, dx) for m, dx in found.iter_rows() if dx not in allowed[m]]
    assert not stray
    assert (
        mine.filter(
            pl.col("place_of_service_code") == "81", pl.col("dx1").is_in(["Z0000", "Z00129"])
        ).height
        > 0
    )
