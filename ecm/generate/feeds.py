"""The member-level feeds of a chunk: eligibility, the Medi-Cal partner feeds
(incarceration, child welfare, CCS, homelessness, nursing facility assessments), provider
assignment and pharmacy claims, each as a polars frame in its contract's columns (the
contract's names and order, data_contracts; the values are the generator's own).

Base members' partner-feed rows are drawn here (shares in palette.py); persona members get
only their recipe's rows. Partner facts feed back into the claims: homeless members carry
Z59 codes and use the ED more, nursing facility residents have long stays, CCS children
carry their eligible condition's diagnosis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from data_contracts import FeedContract, load_contract, load_contracts
from ecm.generate import palette
from ecm.generate.calendar import (
    NULL_DAY,
    Anchors,
    add_month_count,
    month_start_days,
    resolve,
    to_date,
    to_day,
)
from ecm.generate.claims import ECM_PROVIDER_NPIS, NF0, NPIS, _dates
from ecm.generate.members import AID_CODES, RACE_NAMES, Members, by_age, member_ids, pick
from ecm.generate.personas import PERSONAS, Slot
from ecm.generate.vocab import Vocab

# The feeds written by a function of their own (eligibility, pharmacy, provider_assignment
# here; medical_claim in claims.py). Every other feed of the contracts is a partner feed:
# member-keyed rows that the base draw (`draw_partner_feeds`) and the persona recipes add
# (`PartnerFacts.add`); a new contract is written as a partner feed, empty until a draw or
# a recipe gives it rows. Every feed's columns are its contract's, in contract order.
OWN_WRITERS = ("eligibility", "medical_claim", "pharmacy_claim", "provider_assignment")
# The feeds that answer a run's member information files (the providers' RTF and OTF):
# they follow a run's output, not one month's members, so a generated feed directory has
# none (a provider simulator answering a run writes them).
RUN_ANSWERS = ("provider_return", "outreach")
# The plan's own lists, whose rows name no member (the ECM provider roster): no member's
# facts draw them, and a generated feed directory has none yet.
PLAN_LISTS = ("ecm_provider",)


def partner_feeds(contracts: Mapping[str, FeedContract] | None = None) -> tuple[str, ...]:
    """The partner feeds, in feed order: every contract but those of OWN_WRITERS,
    RUN_ANSWERS and PLAN_LISTS."""
    contracts = load_contracts() if contracts is None else contracts
    return tuple(
        feed for feed in contracts if feed not in (*OWN_WRITERS, *RUN_ANSWERS, *PLAN_LISTS)
    )


def _date_columns(contract: FeedContract) -> frozenset[str]:
    return frozenset(spec.name for spec in contract.specs if spec.type == "date")


def _values(contract: FeedContract) -> tuple[str, ...]:
    """A partner feed's columns but its member key, which is drawn from the member."""
    return tuple(c for c in contract.columns if c != contract.member_key)


@dataclass
class PartnerFacts:
    """Partner-feed rows of a chunk, and what the claims need to know of them (`contracts`:
    the feeds' contracts, default every one)."""

    parts: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)
    homeless: np.ndarray | None = None
    nf_residents: np.ndarray | None = None
    contracts: Mapping[str, FeedContract] = field(default_factory=load_contracts)

    def add(self, feed: str, member: np.ndarray, **columns) -> None:
        """Rows for `member` (chunk positions); a column value is one per row or one for
        all; a column not given is empty; a column the contract lacks is an error."""
        contract = self.contracts[feed]
        unknown = sorted(set(columns) - set(_values(contract)))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a column of the {feed} contract")
        dates = _date_columns(contract)
        member = np.atleast_1d(np.asarray(member, dtype=np.int64))
        n = member.size
        part: dict[str, np.ndarray] = {"_member": member}
        for name in _values(contract):
            value = columns.get(name)
            if name in dates:
                part[name] = (
                    np.full(n, NULL_DAY, np.int32)
                    if value is None
                    else np.broadcast_to(np.asarray(value, dtype=np.int32), (n,))
                )
            else:
                part[name] = (
                    np.full(n, None, object)
                    if value is None
                    else np.broadcast_to(np.asarray(value, dtype=object), (n,))
                )
        self.parts.setdefault(feed, []).append(part)


def _weighted_pick(rng: np.random.Generator, weight: np.ndarray, share: float) -> np.ndarray:
    """Members drawn with probability proportional to weight, `share` of the weight's
    support expected."""
    eligible = weight > 0
    if not eligible.any():
        return np.zeros(weight.size, dtype=bool)
    p = weight * share * eligible.sum() / weight[eligible].sum()
    return rng.random(weight.size) < np.minimum(p, 0.9)


def draw_partner_feeds(
    rng: np.random.Generator, m: Members, anchors: Anchors, vocab: Vocab
) -> PartnerFacts:
    """The base members' partner-feed rows (personas get theirs from their recipes)."""
    facts = PartnerFacts()
    _homelessness(rng, m, anchors, vocab, facts)
    _incarceration(rng, m, anchors, facts)
    _child_welfare(rng, m, anchors, facts)
    _ccs(rng, m, anchors, vocab, facts)
    _assessments(rng, m, facts)
    return facts


def _homelessness(
    rng: np.random.Generator, m: Members, anchors: Anchors, vocab: Vocab, facts: PartnerFacts
) -> None:
    """Homelessness spans: index members, then the households of homeless children."""
    base = ~m.is_persona
    w, end = to_day(anchors.window), to_day(anchors.end)
    weight = np.where(base, 1.0, 0.0)
    weight *= np.where((m.age >= 25) & (m.age <= 64), 1.5, 1.0)
    weight *= np.where(m.condition("sud"), 3.0, 1.0) * np.where(m.condition("smi"), 2.0, 1.0)
    weight *= np.where(m.condition("homeless_dx"), 5.0, 1.0)
    index = _weighted_pick(rng, weight, palette.HOMELESSNESS_SHARE)
    entry = (w - 365 + np.floor(rng.random(m.n) * (end - w + 366))).astype(np.int32)
    open_ = rng.random(m.n) < palette.HOMELESS_OPEN_SHARE
    exit_ = entry + rng.geometric(1 / 150, m.n)
    exit_ = np.where(open_ | (exit_ > end), NULL_DAY, exit_).astype(np.int32)
    project = pick(rng, palette.HOMELESS_PROJECTS, m.n)
    child_heads = np.unique(m.subscriber[index & (m.age < 21)])
    household = base & np.isin(m.subscriber, child_heads)
    # a household shares its head's entry
    head_of = m.subscriber
    homeless = index | household
    src = np.where(household & ~index, head_of, np.arange(m.n))
    idx = np.flatnonzero(homeless)
    s = src[idx]
    facts.add(
        "homelessness",
        idx,
        project_type=np.array([p[0] for p in palette.HOMELESS_PROJECTS], dtype=object)[project[s]],
        living_situation=np.array([p[1] for p in palette.HOMELESS_PROJECTS], dtype=object)[
            project[s]
        ],
        entry_date=entry[s],
        exit_date=exit_[s],
        source=np.array([p[2] for p in palette.HOMELESS_PROJECTS], dtype=object)[project[s]],
    )
    facts.homeless = homeless
    coded = idx[rng.random(idx.size) < 0.5]
    z59 = vocab.indices(("Z5900", "Z5901", "Z5902"))
    _add_codes(m, coded, z59[rng.integers(0, z59.size, coded.size)])


def _incarceration(
    rng: np.random.Generator, m: Members, anchors: Anchors, facts: PartnerFacts
) -> None:
    """Custody episodes, youth correctional for members under 21."""
    base = ~m.is_persona
    w, end = to_day(anchors.window), to_day(anchors.end)
    weight = np.where(base & (m.age >= 14), 1.0, 0.0)
    weight *= np.where(m.female, 1.0, 2.5) * np.where((m.age >= 18) & (m.age <= 50), 1.5, 1.0)
    weight *= np.where(m.condition("sud"), 3.0, 1.0) * np.where(m.condition("smi"), 2.0, 1.0)
    idx = np.flatnonzero(_weighted_pick(rng, weight, palette.INCARCERATION_SHARE))
    n = idx.size
    booking = (w - 730 + np.floor(rng.random(n) * (end - w + 731))).astype(np.int32)
    facility = np.array([f for f, _ in palette.INCARCERATION_FACILITIES_ADULT], dtype=object)[
        pick(rng, palette.INCARCERATION_FACILITIES_ADULT, n)
    ]
    facility = np.where(m.age[idx] < 21, "youth_correctional", facility)
    los = np.select(
        [facility == "county_jail", facility == "state_prison", facility == "youth_correctional"],
        [
            np.minimum(np.exp(rng.normal(np.log(20), 1.0, n)), 365),
            rng.integers(200, 1500, n),
            rng.integers(30, 366, n),
        ],
        rng.integers(10, 121, n),
    ).astype(np.int32)
    release = booking + los
    in_custody = (release > end) | (rng.random(n) < palette.STILL_IN_CUSTODY_SHARE)
    release = np.where(in_custody, NULL_DAY, release).astype(np.int32)
    booking = np.where(
        ~in_custody & (rng.random(n) < palette.BOOKING_MISSING_SHARE), NULL_DAY, booking
    ).astype(np.int32)
    facts.add(
        "incarceration",
        idx,
        facility_type=facility,
        booking_date=booking,
        release_date=release,
        source=np.array([palette.INCARCERATION_SOURCES[f] for f in facility], dtype=object),
    )


def _child_welfare(
    rng: np.random.Generator, m: Members, anchors: Anchors, facts: PartnerFacts
) -> None:
    """Child-welfare spans of children, and young adults who aged out of foster care."""
    base = ~m.is_persona
    end = to_day(anchors.end)
    idx = np.flatnonzero(base & (m.age < 21) & (rng.random(m.n) < palette.CHILD_WELFARE_SHARE))
    n = idx.size
    status = np.array([s for s, _ in palette.CHILD_WELFARE_STATUSES], dtype=object)[
        pick(rng, palette.CHILD_WELFARE_STATUSES, n)
    ]
    lookback_years = (
        np.select([status == "foster_care", status == "adoption_assistance"], [6, 10], 3) * 365
    )
    earliest = np.maximum(m.birth[idx], end - lookback_years)
    start = (earliest + np.floor(rng.random(n) * (end - earliest + 1))).astype(np.int32)
    length = np.select(
        [status == "foster_care", status == "adoption_assistance"],
        [rng.integers(60, 1200, n), rng.integers(365, 2000, n)],
        rng.integers(60, 500, n),
    )
    open_share = np.select(
        [status == "foster_care", status == "adoption_assistance"], [0.5, 0.85], 0.0
    )
    stop = start + length
    stop = np.where((rng.random(n) < open_share) | (stop > end), NULL_DAY, stop).astype(np.int32)
    facts.add("child_welfare", idx, status=status, start_date=start, end_date=stop)
    aged = np.flatnonzero(
        base & (m.age >= 18) & (m.age <= 25) & (rng.random(m.n) < palette.AGED_OUT_SHARE)
    )
    at = np.where((rng.random(aged.size) < 0.4) & (m.age[aged] >= 21), 21, 18)
    start = np.array(
        [
            to_day(resolve(f"B+{a}y", anchors, to_date(b)))
            for a, b in zip(at, m.birth[aged], strict=True)
        ],
        dtype=np.int32,
    )
    facts.add("child_welfare", aged, status="aged_out_foster_care", start_date=start, end_date=None)


def _ccs(
    rng: np.random.Generator, m: Members, anchors: Anchors, vocab: Vocab, facts: PartnerFacts
) -> None:
    """CCS spans, mostly of children with a chronic condition."""
    base = ~m.is_persona
    end = to_day(anchors.end)
    weight = np.where(base & (m.age < 21), 1.0, 0.0) * np.where(
        m.condition("chronic_child"), 8.0, 1.0
    )
    idx = np.flatnonzero(_weighted_pick(rng, weight, palette.CCS_SHARE))
    n = idx.size
    program = np.array([p for p, _ in palette.CCS_PROGRAMS], dtype=object)[
        pick(rng, palette.CCS_PROGRAMS, n)
    ]
    condition = rng.integers(0, len(palette.CCS_CONDITIONS), n)
    earliest = np.maximum(m.birth[idx], end - 5 * 365)
    start = (earliest + np.floor(rng.random(n) * (end - earliest + 1))).astype(np.int32)
    kind = rng.random(n)
    ended = start + rng.integers(180, 1500, n)
    future = end + rng.integers(30, 366, n)
    stop = np.where(
        kind < 0.5, NULL_DAY, np.where(kind < 0.75, future, np.where(ended < end, ended, future))
    ).astype(np.int32)
    facts.add(
        "ccs_enrollment",
        idx,
        program=program,
        start_date=start,
        end_date=stop,
        eligible_condition=np.array([c for c, _ in palette.CCS_CONDITIONS], dtype=object)[
            condition
        ],
    )
    ccs_codes = vocab.indices(c for _, c in palette.CCS_CONDITIONS)
    _add_codes(m, idx, ccs_codes[condition])


def _assessments(rng: np.random.Generator, m: Members, facts: PartnerFacts) -> None:
    """MDS-style assessments of adults 50 and older, residents and community."""
    base = ~m.is_persona
    weight = np.where(base & (m.age >= 50) & (m.exposure_days > 0), 1.0, 0.0) * np.where(
        m.age >= 65, 3.0, 1.0
    )
    idx = np.flatnonzero(_weighted_pick(rng, weight, palette.NF_ASSESSMENT_SHARE))
    n = idx.size
    resident = rng.random(n) < palette.NF_RESIDENT_SHARE
    last, _ = m.draw_days(rng, idx) if n else (idx, idx)
    count = rng.integers(2, 6, n)
    member = np.repeat(idx, count)
    k = np.arange(member.size) - np.repeat(np.cumsum(count) - count, count)
    back = np.repeat(count, count) - 1 - k
    day = np.repeat(last, count) - back * rng.integers(80, 100, member.size)
    res = np.repeat(resident, count)
    # a few members have two assessments on their latest date
    twin = np.flatnonzero(
        (back == 0) & (rng.random(member.size) < palette.NF_ASSESSMENT_SAME_DAY_SHARE)
    )
    member, day, res = (
        np.concatenate([member, member[twin]]),
        np.concatenate([day, day[twin]]),
        np.concatenate([res, res[twin]]),
    )
    size = member.size

    def yes(p) -> np.ndarray:
        return np.where(rng.random(size) < p, "Y", "N").astype(object)

    facts.add(
        "nursing_facility_assessment",
        member,
        assessment_date=day.astype(np.int32),
        facility_npi=np.where(
            res, np.array(NPIS, dtype=object)[NF0 + member % palette.NURSING_FACILITIES], None
        ),
        residence_setting=np.where(res, "nursing_facility", "community").astype(object),
        meets_snf_level_of_care=yes(np.where(res, 0.85, 0.5)),
        needs_lower_acuity_skilled_nursing=yes(0.3),
        interested_in_community_transition=yes(np.where(res, 0.25, 0.05)),
        able_to_reside_in_community=yes(np.where(res, 0.35, 0.6)),
    )
    residents = np.zeros(m.n, dtype=bool)
    residents[idx[resident]] = True
    facts.nf_residents = residents


@dataclass(frozen=True)
class HospiceStays:
    """Hospice stays to bill as claims (chunk positions, admission and discharge days;
    discharge NULL_DAY while still in hospice on the end date)."""

    member: np.ndarray
    admission: np.ndarray
    discharge: np.ndarray


def draw_program_enrollment(
    rng: np.random.Generator, m: Members, anchors: Anchors, facts: PartnerFacts
) -> HospiceStays:
    """program_enrollment rows of base members (palette.PROGRAMS: a few percent, spans
    covering the end date, ended before it or ending after it), and the hospice stays
    billed as claims: most hospice enrollees', and a few members 65 and older with hospice
    claims and no program row (some ended more than 60 days before the end date)."""
    end = to_day(anchors.end)
    programs = palette.PROGRAMS
    allowed = np.stack(
        [
            (m.age >= min_age) & (m.dual >= 0 if dual else True)
            for _, _, min_age, dual, _ in programs
        ],
        axis=1,
    )
    older = np.array([name.lower() in ("hospice", "pace") for name, *_ in programs])
    weight = np.array([w for _, w, *_ in programs]) * allowed
    weight = np.where(older & (m.age >= 65)[:, None], weight * palette.PROGRAM_OLDER_WEIGHT, weight)
    chosen = ~m.is_persona & (rng.random(m.n) < palette.PROGRAM_ENROLLMENT_SHARE)
    chosen &= weight.sum(axis=1) > 0
    idx = np.flatnonzero(chosen)
    cumulative = np.cumsum(weight[idx], axis=1)
    draw = rng.random(idx.size) * cumulative[:, -1]
    program = np.argmax(cumulative > draw[:, None], axis=1)
    n = idx.size
    hospice = np.array([p.lower() == "hospice" for p, *_ in programs])[program]
    # A hospice stay is months long (palette.HOSPICE_START_DAYS); other programs years.
    back = np.where(
        hospice, rng.integers(1, palette.HOSPICE_START_DAYS, n), rng.integers(1, 1500, n)
    )
    start = np.maximum(end - back, m.birth[idx]).astype(np.int32)
    kind = rng.random(n)
    ended = kind < palette.PROGRAM_ENDED_SHARE
    later = ~ended & (kind < palette.PROGRAM_ENDED_SHARE + palette.PROGRAM_FUTURE_END_SHARE)
    stop = np.where(
        ended,
        start + np.floor(rng.random(n) * np.maximum(end - start, 1)).astype(np.int32),
        np.where(later, end + rng.integers(1, 366, n), NULL_DAY),
    )
    stop = np.where(ended & (stop >= end), end - 1, stop).astype(np.int32)
    start = np.minimum(start, np.where(stop == NULL_DAY, start, stop))
    facts.add(
        "program_enrollment",
        idx,
        program=np.array([p for p, *_ in programs], dtype=object)[program],
        start_date=start,
        end_date=stop,
        source=np.array([source for *_, source in programs], dtype=object)[program],
    )
    billed = hospice & (rng.random(n) < palette.HOSPICE_BILLED_SHARE)
    # Claims only: a hospice stay of the last months, ending some time before the end date.
    only = np.flatnonzero(
        ~m.is_persona
        & ~chosen
        & (m.age >= 65)
        & (rng.random(m.n) < palette.HOSPICE_CLAIMS_ONLY_SHARE)
    )
    only_admission = (end - rng.integers(20, 240, only.size)).astype(np.int32)
    only_discharge = np.minimum(only_admission + rng.integers(10, 120, only.size), end + 1).astype(
        np.int32
    )
    only_discharge = np.where(only_discharge > end, NULL_DAY, only_discharge).astype(np.int32)
    return HospiceStays(
        member=np.concatenate([idx[billed], only]).astype(np.int32),
        admission=np.concatenate([start[billed], only_admission]).astype(np.int32),
        discharge=np.concatenate([stop[billed], only_discharge]).astype(np.int32),
    )


def _add_codes(m: Members, idx: np.ndarray, codes: np.ndarray) -> None:
    """Give each member its code (one per member) in a free condition-code slot."""
    if idx.size == 0:
        return
    free = m.codes[idx] < 0
    has_free = free.any(axis=1)
    idx, codes, slot = idx[has_free], codes[has_free], np.argmax(free[has_free], axis=1)
    m.codes[idx, slot] = codes


def add_persona_rows(facts: PartnerFacts, m: Members, anchors: Anchors, slots: list[Slot]) -> None:
    """Each persona's recipe rows."""
    for slot in slots:
        role = PERSONAS[slot.persona].roles[slot.role]
        birth = to_date(int(m.birth[slot.position]))
        for row in role.rows:
            dates = _date_columns(facts.contracts[row.feed])
            values = {}
            for column, value in row.values.items():
                if column in dates:
                    values[column] = np.array(
                        [to_day(resolve(value, anchors, birth)) if value else NULL_DAY],
                        dtype=np.int32,
                    )
                else:
                    values[column] = np.array([value], dtype=object)
            if row.feed == "nursing_facility_assessment":
                values.setdefault(
                    "facility_npi",
                    np.array(
                        [NPIS[NF0 + slot.position % palette.NURSING_FACILITIES]], dtype=object
                    ),
                )
            facts.add(row.feed, np.array([slot.position]), **values)


def partner_frames(facts: PartnerFacts, first: int) -> dict[str, pl.DataFrame]:
    """The partner feeds as frames in their contract columns, rows by member (a feed
    without rows: its columns, no row)."""
    frames: dict[str, pl.DataFrame] = {}
    for feed in partner_feeds(facts.contracts):
        contract = facts.contracts[feed]
        dates = _date_columns(contract)
        parts = facts.parts.get(feed, [])
        columns = ("_member", *_values(contract))
        table = {
            c: np.concatenate([p[c] for p in parts])
            if parts
            else np.zeros(0, np.int32 if c in dates or c == "_member" else object)
            for c in columns
        }
        order = np.argsort(table["_member"], kind="stable")
        member = table["_member"][order].astype(np.int64) + first
        cols: dict[str, pl.Series] = {
            contract.member_key: pl.select(
                member_ids(pl.lit(pl.Series(member, dtype=pl.Int64)))
            ).to_series()
        }
        for name in _values(contract):
            values = table[name][order]
            cols[name] = (
                _dates(values.astype(np.int32))
                if name in dates
                else pl.Series(values.tolist(), dtype=pl.String)
            )
        frames[feed] = pl.DataFrame(cols).select(contract.columns)
    return frames


def provider_assignment(rng: np.random.Generator, m: Members, anchors: Anchors) -> pl.DataFrame:
    """Most members assigned to one ECM provider; some to two with overlapping spans."""
    end = to_day(anchors.end)
    assigned = m.is_persona | (rng.random(m.n) < palette.PROVIDER_ASSIGNED_SHARE)
    idx = np.flatnonzero(assigned)
    n = idx.size
    provider = pick(rng, palette.ECM_PROVIDERS, n)
    start = np.minimum(m.s1[idx] + rng.integers(0, 366, n), end).astype(np.int32)
    second_start = (start + rng.integers(30, 700, n)).astype(np.int32)
    two = (
        (~m.is_persona[idx])
        & (rng.random(n) < palette.PROVIDER_TWO_SPANS_SHARE)
        & (second_start <= end)
    )
    overlapping = rng.random(n) < 0.5
    first_end = np.where(
        two,
        np.where(overlapping, second_start + rng.integers(0, 61, n), second_start - 1),
        NULL_DAY,
    )
    first_end = np.where(two & overlapping & (rng.random(n) < 0.5), NULL_DAY, first_end).astype(
        np.int32
    )
    other = (provider + 1 + rng.integers(0, len(palette.ECM_PROVIDERS) - 1, n)) % len(
        palette.ECM_PROVIDERS
    )
    t = np.flatnonzero(two)
    member = np.concatenate([idx, idx[t]])
    prov = np.concatenate([provider, other[t]])
    starts = np.concatenate([start, second_start[t]])
    ends = np.concatenate([first_end, np.full(t.size, NULL_DAY, dtype=np.int32)])
    order = np.lexsort((starts, member))
    member, prov, starts, ends = member[order], prov[order], starts[order], ends[order]
    return pl.DataFrame(
        {
            "member_id": pl.select(
                member_ids(pl.lit(pl.Series(member.astype(np.int64) + m.first)))
            ).to_series(),
            "provider_npi": pl.Series(ECM_PROVIDER_NPIS, dtype=pl.String).gather(
                pl.Series(prov.astype(np.int64))
            ),
            "provider_name": pl.Series(
                [p for p, _ in palette.ECM_PROVIDERS], dtype=pl.String
            ).gather(pl.Series(prov.astype(np.int64))),
            "start_date": _dates(starts),
            "end_date": _dates(ends),
        }
    ).select(load_contract("provider_assignment").columns)


def ecm_provider_roster(
    spans: pl.DataFrame, counties: pl.DataFrame, members: int, end: dt.date
) -> pl.DataFrame:
    """The plan's roster of its ECM providers (the NPIs of provider_assignment), one row
    each: the i-th provider serves the i-th county by members (`counties`: county,
    members; ties to the name), palette.ROSTER_POPULATIONS and takes the members its
    `spans` (provider_assignment rows of the whole generation) hold on `end` plus
    palette.ROSTER_ROOM per 10,000 `members`. Deterministic: no random draw."""
    ranked = counties.sort(["members", "county"], descending=[True, False])["county"].to_list()
    held = dict(
        spans.filter(
            (pl.col("start_date") <= end)
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= end))
        )
        .group_by("provider_npi")
        .agg(pl.col("member_id").n_unique())
        .iter_rows()
    )
    rows = []
    for i, ((name, _), npi) in enumerate(
        zip(palette.ECM_PROVIDERS, ECM_PROVIDER_NPIS, strict=True)
    ):
        room = palette.ROSTER_ROOM[i % len(palette.ROSTER_ROOM)] * members // 10_000
        rows.append(
            {
                "provider_npi": npi,
                "provider_name": name,
                "county": ranked[i % len(ranked)],
                "populations": palette.ROSTER_POPULATIONS[i % len(palette.ROSTER_POPULATIONS)],
                "capacity": str(held.get(npi, 0) + room),
                "languages": "English;Spanish" if i % 2 == 0 else "English",
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String)).select(
        load_contract("ecm_provider").columns
    )


def eligibility(m: Members, anchors: Anchors) -> pl.DataFrame:
    """One row per member per enrollment span."""
    has2 = m.s2 != NULL_DAY
    member = np.concatenate([np.arange(m.n), np.flatnonzero(has2)])
    start = np.concatenate([m.s1, m.s2[has2]])
    stop = np.concatenate([m.e1, m.e2[has2]])
    order = np.lexsort((start, member))
    member, start, stop = member[order], start[order], stop[order]
    file_day = int(
        add_month_count(month_start_days(np.array([to_day(anchors.end)], dtype=np.int32)), 1)[0]
    )
    first_names = pl.Series([*palette.FIRST_NAMES_F, *palette.FIRST_NAMES_M], dtype=pl.String)
    place = m.place[member]
    ids = pl.select(member_ids(pl.lit(pl.Series(member.astype(np.int64) + m.first)))).to_series()
    subscriber = pl.select(
        member_ids(pl.lit(pl.Series(m.subscriber[member].astype(np.int64) + m.first)))
    ).to_series()
    street = pl.Series(palette.STREETS, dtype=pl.String).gather(
        pl.Series(m.street[member].astype(np.int64))
    )
    address = pl.select(
        pl.format("{} {}", pl.lit(pl.Series(m.street_no[member])), pl.lit(street))
    ).to_series()
    zip_code = pl.select(
        pl.lit(
            pl.Series([p[2] for p in palette.PLACES], dtype=pl.String).gather(
                pl.Series(place.astype(np.int64))
            )
        )
        + pl.lit(pl.Series(m.zip_suffix[member])).cast(pl.String).str.zfill(2)
    ).to_series()
    area = pl.Series([p[3] for p in palette.PLACES], dtype=pl.String).gather(
        pl.Series(place.astype(np.int64))
    )
    phone = pl.select(
        pl.format(
            "({}) 555-{}",
            pl.lit(area),
            pl.lit(pl.Series(m.phone[member])).cast(pl.String).str.zfill(4),
        )
    ).to_series()
    dual = m.dual[member]
    return pl.DataFrame(
        {
            "member_id": ids,
            "person_id": ids,
            "subscriber_id": subscriber,
            "birth_date": _dates(m.birth[member]),
            "death_date": _dates(m.death[member]),
            "gender": pl.Series(["male", "female"], dtype=pl.String).gather(
                pl.Series(m.female[member].astype(np.int64))
            ),
            "race": pl.Series(RACE_NAMES, dtype=pl.String).gather(
                pl.Series(m.race[member].astype(np.int64))
            ),
            "ethnicity": pl.Series(
                [palette.NOT_HISPANIC, palette.HISPANIC], dtype=pl.String
            ).gather(pl.Series(m.hispanic[member].astype(np.int64))),
            "enrollment_start_date": _dates(start),
            "enrollment_end_date": _dates(stop),
            "payer": pl.repeat(palette.PAYER, member.size, eager=True),
            "plan": pl.repeat(palette.PLAN, member.size, eager=True),
            "dual_status_code": pl.Series(palette.DUAL_STATUS_CODES, dtype=pl.String).gather(
                pl.Series(np.ma.masked_array(dual.astype(np.int64), dual < 0))
            ),
            "first_name": first_names.gather(pl.Series(m.first_name[member].astype(np.int64))),
            "last_name": pl.Series(palette.LAST_NAMES, dtype=pl.String).gather(
                pl.Series(m.last_name[member].astype(np.int64))
            ),
            "address": address,
            "city": pl.Series([p[1] for p in palette.PLACES], dtype=pl.String).gather(
                pl.Series(place.astype(np.int64))
            ),
            "state": pl.repeat("CA", member.size, eager=True),
            "zip_code": zip_code,
            "phone": phone,
            "aid_code": pl.Series(AID_CODES, dtype=pl.String).gather(
                pl.Series(m.aid[member].astype(np.int64))
            ),
            "county": pl.Series([p[0] for p in palette.PLACES], dtype=pl.String).gather(
                pl.Series(place.astype(np.int64))
            ),
            "preferred_language": pl.Series(
                [lang for lang, _ in palette.LANGUAGES], dtype=pl.String
            ).gather(pl.Series(m.language[member].astype(np.int64))),
            "data_source": pl.repeat(palette.ELIGIBILITY_SOURCE, member.size, eager=True),
            "file_date": _dates(np.full(member.size, file_day, dtype=np.int32)),
        }
    ).select(load_contract("eligibility").columns)


def pharmacy(rng: np.random.Generator, m: Members, anchors: Anchors, chunk: int) -> pl.DataFrame:
    """Pharmacy fills: claim_id per fill, one line each, arriving the month after."""
    years = m.exposure_days / 365.25
    rate = (
        by_age(palette.EVENT_RATES["pharmacy"], m.age)
        * (1 + 0.5 * m.conditions.sum(axis=1))
        * m.frailty**0.5
        * years
    )
    counts = rng.poisson(rate)
    member = np.repeat(np.arange(m.n, dtype=np.int32), counts)
    day, _ = m.draw_days(rng, member) if member.size else (member, member)
    order = np.lexsort((member, day))
    member, day = member[order], day[order]
    n = member.size
    ndc = pick(rng, palette.NDC_CODES, n)
    supply = np.array([d for d, _ in palette.DAYS_SUPPLY])[pick(rng, palette.DAYS_SUPPLY, n)]
    quantity = supply * rng.integers(1, 3, n)
    paid = np.round(12.0 * np.exp(rng.normal(0, 0.9, n)) * supply / 30, 2)
    max_file = int(
        add_month_count(month_start_days(np.array([to_day(anchors.end)], dtype=np.int32)), 1)[0]
    )
    file_day = np.minimum(add_month_count(month_start_days(day), 1), max_file).astype(np.int32)
    ids = pl.select(member_ids(pl.lit(pl.Series(member.astype(np.int64) + m.first)))).to_series()
    claim_num = (chunk + 1) * 1_000_000_000 + np.arange(n, dtype=np.int64) + 1
    return pl.DataFrame(
        {
            "claim_id": pl.select(pl.format("RX{}", pl.lit(pl.Series(claim_num)))).to_series(),
            "claim_line_number": pl.repeat(1, n, eager=True, dtype=pl.Int32),
            "person_id": ids,
            "member_id": ids,
            "dispensing_date": _dates(day),
            "ndc_code": pl.Series([c for c, _ in palette.NDC_CODES], dtype=pl.String).gather(
                pl.Series(ndc.astype(np.int64))
            ),
            "days_supply": pl.Series(supply, dtype=pl.Int32),
            "quantity": pl.Series(quantity, dtype=pl.Int32),
            "paid_amount": pl.Series(paid, dtype=pl.Float64),
            "data_source": pl.repeat(palette.PHARMACY_SOURCE, n, eager=True),
            "file_date": _dates(file_day),
        }
    ).select(load_contract("pharmacy_claim").columns)
