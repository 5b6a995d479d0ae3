"""BIRTH_EQUITY_ADULT / BIRTH_EQUITY_CHILD: the Birth Equity Population of Focus.

populations.md: race black or african american, american indian or alaska native, or
native hawaiian or other pacific islander (the list is in the rules file) AND pregnant in
the last 12 months: a pregnancy/postpartum dx in the lookback, or one in the 9 months
before it with no pregnancy end dated before the lookback.

"No pregnancy end dated before the lookback" is read for the pregnancies of the carry-over
window: no end dated on or after the earliest pregnancy/postpartum dx of that window and
before the lookback start (an end from a pregnancy before the window does not count; a
delivery inside it does, even when a postpartum code follows it).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.criteria import Criteria, facts_in
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.windows import Window, months_before


def birth_equity(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    window: Window,
    *,
    age_group: str,
    races: list[str],
    carryover_months: int,
) -> PopulationResult:
    eligible = members.filter(
        (pl.col("age_group") == age_group) & pl.col("race").is_in(races)
    ).select("member_id")
    in_lookback = facts_in(criteria.conditions, ["pregnancy_postpartum_dx"], window)
    before = Window(
        months_before(window.start, carryover_months), window.start - dt.timedelta(days=1)
    )
    carried = facts_in(criteria.conditions, ["pregnancy_postpartum_dx"], before)
    earliest_carried = carried.group_by("member_id").agg(
        pl.col("event_date").min().alias("_earliest")
    )
    ended = (
        criteria.pregnancy_end.join(earliest_carried, on="member_id", how="inner")
        .filter(
            (pl.col("event_date") >= pl.col("_earliest"))
            & (pl.col("event_date") < pl.lit(window.start))
        )
        .select("member_id")
        .unique()
    )
    still_pregnant = carried.join(ended, on="member_id", how="anti")
    pregnancy = pl.concat([in_lookback, still_pregnant])
    qualifying = eligible.join(pregnancy, on="member_id", how="semi")
    return qualify_by_facts(pof_code, qualifying, pregnancy)


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_birth_equity(m, _block, _rules) -> str:
    if m.get("pregnancy_postpartum_dx_dates_12m", 0) > 0:
        return "pregnant in the last 12 months, but race is not one the rule names"
    return "no pregnancy or postpartum diagnosis in the lookback"


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = tuple(
    Population(
        code,
        birth_equity,
        reads=("members", "criteria", "window"),
        settings={"age_group": str, "races": list[str]},
        shared_settings={"carryover_months": ("time.pregnancy_carryover_months", int)},
        feeds=("eligibility", "medical_claim"),
        why_not=why_not_birth_equity,
    )
    for code in ("BIRTH_EQUITY_ADULT", "BIRTH_EQUITY_CHILD")
)
