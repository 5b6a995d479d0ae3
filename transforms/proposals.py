"""Members with no ECM provider (loop.md, section 4): pure rules, frames in, frames out.
The stage (ecm.loop.proposals) reads the warehouse and hands the frames here; nothing here
reads a path, the clock or the rules file.

- `primary_care`: each member's primary care provider, in the shards (per member): the
  `rendering_npi` of most office visits in the lookback, ties to the latest visit, then
  the smallest NPI.
- `candidates`: who is proposed a provider: members holding a population, not excluded
  (`excluded_by` empty; a missing column is none), with no provider_assignment span on D.
- `taken_places`: per provider, the members it already serves on D: a provider_assignment
  span covering D to it (whether or not the member holds a population), or enrolled in ECM
  with it on D (the RTF); a member counted once per provider.
- `propose`: the members in member_id order across the whole run, each proposed (1) their
  primary care provider when it is on the roster, serves one of their populations and has
  room, else (2) the roster provider of their county serving one of their populations
  with the most room left, ties to the smallest NPI, else (3) none. Room = capacity −
  places taken − members proposed to it before in this run.
- `capacity_use`: per roster provider, its capacity, places taken, proposals and room left.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.criteria import office_visit_lines
from transforms.windows import Window

PCP = "pcp"
COUNTY_CAPACITY = "county_capacity"
PROPOSAL_REASONS = (PCP, COUNTY_CAPACITY)

PRIMARY_CARE_SCHEMA = {
    "member_id": pl.String,
    "county": pl.String,
    "primary_care_npi": pl.String,
    "primary_care_visits": pl.Int64,
    "primary_care_last_visit": pl.Date,
}
"""The shards' `primary_care` frame: one row per member holding a population (the
primary care columns empty when the member had no office visit with a rendering NPI)."""
PROPOSAL_SCHEMA = {
    "member_id": pl.String,
    "proposed_provider_npi": pl.String,
    "proposal_reason": pl.String,
}
"""One row per candidate: the provider proposed and why (both empty when none)."""
PROPOSAL_COLUMNS = ("proposed_provider_npi", "proposal_reason")
ROSTER_SCHEMA = {
    "provider_npi": pl.String,
    "provider_name": pl.String,
    "county": pl.String,
    "populations": pl.String,
    "capacity": pl.Int64,
}
"""The roster's columns the proposals read (stg__ecm_provider)."""
CAPACITY_SCHEMA = {
    "provider_npi": pl.String,
    "capacity": pl.Int64,
    "taken": pl.Int64,
    "proposed": pl.Int64,
    "room_left": pl.Int64,
}
"""Capacity use per roster provider (summary.json's `proposals.capacity`)."""
CANDIDATE_SCHEMA = {
    "member_id": pl.String,
    "pof_codes": pl.List(pl.String),
}


def primary_care(
    claim_lines: pl.LazyFrame, office_codes: pl.DataFrame, ed_pos: pl.DataFrame, window: Window
) -> pl.LazyFrame:
    """Each member's primary care provider: the `rendering_npi` of most office visits
    (transforms.criteria.office_visit_lines) dated in `window`, a visit being one
    member × rendering NPI × service date; ties to the latest visit, then the smallest
    NPI. Lines without a rendering NPI are not counted.

    Grain: one row per member with such a visit: member_id, primary_care_npi,
    primary_care_visits, primary_care_last_visit."""
    visits = (
        office_visit_lines(claim_lines, office_codes, ed_pos)
        .select(
            "member_id",
            pl.col("rendering_npi").alias("primary_care_npi"),
            pl.coalesce("claim_line_start_date", "claim_start_date").alias("visit_date"),
        )
        .filter(pl.col("primary_care_npi").is_not_null() & window.contains(pl.col("visit_date")))
        .unique()
    )
    return (
        visits.group_by("member_id", "primary_care_npi")
        .agg(
            pl.len().cast(pl.Int64).alias("primary_care_visits"),
            pl.col("visit_date").max().alias("primary_care_last_visit"),
        )
        .sort(
            ["member_id", "primary_care_visits", "primary_care_last_visit", "primary_care_npi"],
            descending=[False, True, True, False],
        )
        .unique(subset="member_id", keep="first", maintain_order=True)
    )


def excluded_by(assignments: pl.LazyFrame) -> pl.Expr:
    """The assignments' `excluded_by`, '' when the exclusions did not run (no column)."""
    if "excluded_by" in assignments.collect_schema().names():
        return pl.col("excluded_by").fill_null("")
    return pl.lit("")


def candidates(assignments: pl.LazyFrame) -> pl.LazyFrame:
    """The members proposed a provider: holding a population (a row of `assignments`),
    not excluded (`excluded_by` empty or no column) and with no provider span on D
    (`provider_npi` empty). Grain: one row per member, its population codes sorted."""
    return (
        assignments.with_columns(excluded_by(assignments).alias("_excluded_by"))
        .group_by("member_id")
        .agg(
            pl.col("pof_code").unique().sort().alias("pof_codes"),
            pl.col("provider_npi").is_not_null().any().alias("_has_provider"),
            (pl.col("_excluded_by") != "").any().alias("_excluded"),
        )
        .filter(~pl.col("_has_provider") & ~pl.col("_excluded"))
        .select(list(CANDIDATE_SCHEMA))
        .sort("member_id")
    )


def taken_places(spans_on_d: pl.LazyFrame, enrollments: pl.LazyFrame) -> pl.LazyFrame:
    """Per provider, the members it already serves on D: `spans_on_d` (member_id,
    provider_npi: provider_assignment spans covering D, whether or not the member holds a
    population) and `enrollments` (member_id, provider_npi: enrolled in ECM with it on D,
    transforms.loop.ecm_enrollments); a member in both counted once."""
    pairs = pl.concat(
        [
            spans_on_d.select("member_id", "provider_npi"),
            enrollments.select("member_id", "provider_npi"),
        ]
    ).unique()
    return (
        pairs.group_by("provider_npi")
        .agg(pl.len().cast(pl.Int64).alias("taken"))
        .sort("provider_npi")
    )


def _key(value: str | None) -> str | None:
    """A county compared trimmed and in any case."""
    return None if value is None or not value.strip() else value.strip().casefold()


def _codes(populations: str | None) -> frozenset[str]:
    """A roster row's populations: `;`-joined codes, trimmed, upper case; empty: all."""
    if populations is None:
        return frozenset()
    return frozenset(c.strip().upper() for c in populations.split(";") if c.strip())


@dataclass
class _Provider:
    npi: str
    county: str | None
    populations: frozenset[str]  # empty: every population
    room: int

    def serves(self, codes: list[str]) -> bool:
        return not self.populations or any(c in self.populations for c in codes)


def propose(members: pl.DataFrame, roster: pl.DataFrame, taken: pl.DataFrame) -> pl.DataFrame:
    """The proposal of every member of `members` (member_id, pof_codes, county,
    primary_care_npi), taken in member_id order: see the module docstring. `roster`
    (ROSTER_SCHEMA, one row per provider), `taken` (provider_npi, taken: `taken_places`).

    Grain: one row per member of `members` (PROPOSAL_SCHEMA), sorted by member_id."""
    already = dict(taken.select("provider_npi", "taken").iter_rows())
    providers: dict[str, _Provider] = {}
    by_county: dict[str, list[_Provider]] = {}
    for row in roster.sort("provider_npi").iter_rows(named=True):
        p = _Provider(
            npi=row["provider_npi"],
            county=_key(row["county"]),
            populations=_codes(row["populations"]),
            room=int(row["capacity"]) - int(already.get(row["provider_npi"], 0)),
        )
        providers[p.npi] = p
        if p.county is not None:
            by_county.setdefault(p.county, []).append(p)
    rows = []
    ordered = members.sort("member_id").select(
        "member_id", "pof_codes", "county", "primary_care_npi"
    )
    for member_id, pof_codes, county, pcp_npi in ordered.iter_rows():
        codes = list(pof_codes or [])
        chosen, reason = None, None
        pcp = providers.get(pcp_npi) if pcp_npi is not None else None
        if pcp is not None and pcp.room > 0 and pcp.serves(codes):
            chosen, reason = pcp, PCP
        else:
            options = [
                p for p in by_county.get(_key(county) or "", []) if p.room > 0 and p.serves(codes)
            ]
            if options:
                chosen = min(options, key=lambda p: (-p.room, p.npi))
                reason = COUNTY_CAPACITY
        if chosen is not None:
            chosen.room -= 1
        rows.append((member_id, chosen.npi if chosen else None, reason))
    return pl.DataFrame(rows, schema=PROPOSAL_SCHEMA, orient="row")


def capacity_use(
    roster: pl.DataFrame, taken: pl.DataFrame, proposals: pl.DataFrame
) -> pl.DataFrame:
    """Per roster provider (CAPACITY_SCHEMA, sorted by NPI): its capacity, the places
    taken on D (`taken_places`), the members proposed to it in this run and the room left
    (capacity − taken − proposed; below 0 when the plan already gave it more members than
    its capacity)."""
    proposed = (
        proposals.filter(pl.col("proposed_provider_npi").is_not_null())
        .group_by("proposed_provider_npi")
        .agg(pl.len().cast(pl.Int64).alias("proposed"))
        .rename({"proposed_provider_npi": "provider_npi"})
    )
    return (
        roster.select("provider_npi", pl.col("capacity").cast(pl.Int64))
        .join(taken.select("provider_npi", "taken"), on="provider_npi", how="left")
        .join(proposed, on="provider_npi", how="left")
        .with_columns(pl.col("taken").fill_null(0), pl.col("proposed").fill_null(0))
        .with_columns(
            (pl.col("capacity") - pl.col("taken") - pl.col("proposed")).alias("room_left")
        )
        .select(list(CAPACITY_SCHEMA))
        .cast(CAPACITY_SCHEMA)
        .sort("provider_npi")
    )


def with_proposals(assignments: pl.LazyFrame, proposals: pl.LazyFrame) -> pl.LazyFrame:
    """`assignments` with `proposed_provider_npi` and `proposal_reason` on every row of a
    member proposed a provider (empty on the others), last; the rows and order kept."""
    return assignments.join(
        proposals.select("member_id", *PROPOSAL_COLUMNS),
        on="member_id",
        how="left",
        maintain_order="left",
    ).cast(dict.fromkeys(PROPOSAL_COLUMNS, pl.String))
