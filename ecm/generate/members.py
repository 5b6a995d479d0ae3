"""Members of one chunk: demographics, households, enrollment spans, deaths, conditions.

Base members are drawn statistically; the chunk's last positions are persona members
(personas.py) whose attributes the recipe sets. Every array is indexed by the member's
position in the chunk; `first + position` is the global member index and
`member_id = M` + 8 digits of (index + 1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from ecm.generate import palette
from ecm.generate.calendar import (
    NULL_DAY,
    Anchors,
    add_month_count,
    birth_anchor_days,
    month_end_days,
    month_start_days,
    resolve,
    to_day,
)
from ecm.generate.personas import PERSONAS, Slot, chunk_plan
from ecm.generate.vocab import Vocab

# Members generated together; memory is bounded by one chunk's claims.
CHUNK_MEMBERS = 25_000
CODE_SLOTS = 6

RACE_NAMES = [r[0] for r in palette.RACES]
CONDITION_NAMES = [c[0] for c in palette.CONDITIONS]
AID_CODES = (
    *palette.AID_CODES_CHILD,
    *palette.AID_CODES_ADULT,
    *palette.AID_CODES_AGED,
    *palette.AID_CODES_PREGNANT,
)


def member_ids(index: pl.Expr) -> pl.Expr:
    """`M` + 8 digits of index + 1 (index 0 -> M00000001)."""
    return pl.format("M{}", (index + 1).cast(pl.String).str.zfill(8))


def weights(pairs) -> np.ndarray:
    w = np.array([p[-1] for p in pairs], dtype=float)
    return w / w.sum()


def pick(rng: np.random.Generator, pairs, size: int) -> np.ndarray:
    """Indices into `pairs` drawn by their last element as weight."""
    return rng.choice(len(pairs), size=size, p=weights(pairs)).astype(np.int32)


def by_age(table: tuple[tuple[int, float], ...], ages: np.ndarray) -> np.ndarray:
    """The value of a (lower bound, value) table for each age."""
    bounds = np.array([t[0] for t in table])
    values = np.array([t[1] for t in table])
    return values[np.searchsorted(bounds, ages, side="right") - 1]


@dataclass
class Members:
    first: int
    n: int
    birth: np.ndarray
    age: np.ndarray
    female: np.ndarray
    race: np.ndarray
    hispanic: np.ndarray
    subscriber: np.ndarray  # chunk position of the household's subscriber
    first_name: np.ndarray
    last_name: np.ndarray
    street_no: np.ndarray
    street: np.ndarray
    place: np.ndarray
    zip_suffix: np.ndarray
    phone: np.ndarray
    language: np.ndarray
    aid: np.ndarray
    dual: np.ndarray  # index into DUAL_STATUS_CODES, -1 none
    s1: np.ndarray
    e1: np.ndarray  # NULL_DAY = open
    s2: np.ndarray  # NULL_DAY = no second span
    e2: np.ndarray
    death: np.ndarray  # NULL_DAY = alive
    is_persona: np.ndarray
    conditions: np.ndarray  # bool (n, conditions)
    codes: np.ndarray  # int32 vocab indices (n, CODE_SLOTS), -1 empty
    frailty: np.ndarray
    # exposure inside the history window (effective spans, cut at death)
    x1s: np.ndarray | None = None
    x1e: np.ndarray | None = None
    x2s: np.ndarray | None = None
    x2e: np.ndarray | None = None

    def condition(self, name: str) -> np.ndarray:
        return self.conditions[:, CONDITION_NAMES.index(name)]

    def compute_exposure(self, anchors: Anchors) -> None:
        w, e = to_day(anchors.window), to_day(anchors.end)
        alive_end = np.where(self.death == NULL_DAY, e, np.minimum(self.death, e))
        end1 = np.where(self.e1 == NULL_DAY, e, self.e1)
        end2 = np.where(self.e2 == NULL_DAY, e, self.e2)
        self.x1s = np.maximum(self.s1, w)
        self.x1e = np.minimum(end1, alive_end)
        has2 = self.s2 != NULL_DAY
        self.x2s = np.where(has2, np.maximum(self.s2, w), 1)
        self.x2e = np.where(has2, np.minimum(end2, alive_end), 0)

    @property
    def len1(self) -> np.ndarray:
        return np.maximum(0, self.x1e - self.x1s + 1)

    @property
    def len2(self) -> np.ndarray:
        return np.maximum(0, self.x2e - self.x2s + 1)

    @property
    def exposure_days(self) -> np.ndarray:
        return self.len1 + self.len2

    def draw_days(self, rng: np.random.Generator, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A day uniformly inside each member's enrolled days of the window, and the end
        of the span it falls in (members must have exposure)."""
        len1, len2 = self.len1[idx], self.len2[idx]
        u = np.floor(rng.random(idx.size) * (len1 + len2)).astype(np.int32)
        in1 = u < len1
        day = np.where(in1, self.x1s[idx] + u, self.x2s[idx] + (u - len1))
        span_end = np.where(in1, self.x1e[idx], self.x2e[idx])
        return day.astype(np.int32), span_end.astype(np.int32)

    def exposure_end_at(self, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """End of the enrolled span holding `day`, or NULL_DAY when not enrolled then."""
        in1 = (day >= self.x1s[idx]) & (day <= self.x1e[idx])
        in2 = (day >= self.x2s[idx]) & (day <= self.x2e[idx])
        return np.where(in1, self.x1e[idx], np.where(in2, self.x2e[idx], NULL_DAY)).astype(np.int32)


def draw_members(
    rng: np.random.Generator,
    first: int,
    n: int,
    anchors: Anchors,
    slots: list[Slot],
    vocab: Vocab,
) -> Members:
    """Base members for the chunk, then the persona slots written over its last positions."""
    end = to_day(anchors.end)
    band = pick(rng, palette.AGE_BANDS, n)
    lo = np.array([b[0] for b in palette.AGE_BANDS])[band]
    hi = np.array([b[1] for b in palette.AGE_BANDS])[band]
    age = (lo + np.floor(rng.random(n) * (hi - lo + 1))).astype(np.int32)
    anchor = birth_anchor_days(anchors.end, palette.MAX_AGE + 1)
    span = anchor[age] - anchor[age + 1]
    birth = (anchor[age] - np.floor(rng.random(n) * span)).astype(np.int32)
    child = age < 21
    female = rng.random(n) < np.where(child, palette.FEMALE_SHARE_CHILD, palette.FEMALE_SHARE_ADULT)
    race = pick(rng, [(r[0], r[1]) for r in palette.RACES], n)
    hispanic = rng.random(n) < np.array([r[2] for r in palette.RACES])[race]
    place = pick(rng, palette.PLACES, n)
    language = _languages(rng, hispanic)
    names_f, names_m = len(palette.FIRST_NAMES_F), len(palette.FIRST_NAMES_M)
    first_name = np.where(
        female, rng.integers(0, names_f, n), names_f + rng.integers(0, names_m, n)
    )
    members = Members(
        first=first,
        n=n,
        birth=birth,
        age=age,
        female=female,
        race=race,
        hispanic=hispanic,
        subscriber=np.arange(n, dtype=np.int64),
        first_name=first_name.astype(np.int32),
        last_name=rng.integers(0, len(palette.LAST_NAMES), n).astype(np.int32),
        street_no=rng.integers(100, 9999, n).astype(np.int32),
        street=rng.integers(0, len(palette.STREETS), n).astype(np.int32),
        place=place,
        zip_suffix=rng.integers(0, 100, n).astype(np.int32),
        phone=rng.integers(0, 10_000, n).astype(np.int32),
        language=language,
        aid=np.zeros(n, dtype=np.int32),
        dual=np.full(n, -1, dtype=np.int32),
        s1=np.zeros(n, dtype=np.int32),
        e1=np.full(n, NULL_DAY, dtype=np.int32),
        s2=np.full(n, NULL_DAY, dtype=np.int32),
        e2=np.full(n, NULL_DAY, dtype=np.int32),
        death=np.full(n, NULL_DAY, dtype=np.int32),
        is_persona=np.zeros(n, dtype=bool),
        conditions=np.zeros((n, len(palette.CONDITIONS)), dtype=bool),
        codes=np.full((n, CODE_SLOTS), -1, dtype=np.int32),
        frailty=rng.gamma(palette.FRAILTY_SHAPE, 1 / palette.FRAILTY_SHAPE, n),
    )
    base = np.ones(n, dtype=bool)
    for slot in slots:
        base[slot.position] = False
    members.is_persona = ~base
    _households(rng, members, np.flatnonzero(base))
    _enrollment(rng, members, anchors, end)
    _personas(rng, members, anchors, slots)
    _aid_codes(rng, members)
    members.compute_exposure(anchors)
    _deaths(rng, members)
    members.compute_exposure(anchors)
    _conditions(rng, members, vocab)
    return members


def _languages(rng: np.random.Generator, hispanic: np.ndarray) -> np.ndarray:
    names = [lang for lang, _ in palette.LANGUAGES]
    others = [(lang, w) for lang, w in palette.LANGUAGES if lang != "Spanish"]
    other_idx = np.array([names.index(lang) for lang, _ in others])
    drawn = other_idx[pick(rng, others, hispanic.size)]
    spanish = hispanic & (rng.random(hispanic.size) < 0.55)
    return np.where(spanish, names.index("Spanish"), drawn).astype(np.int32)


def _households(rng: np.random.Generator, m: Members, base: np.ndarray) -> None:
    """Children share a parent's subscriber_id; some adults a spouse's. Household members
    share the last name, address, phone and language (and mostly race)."""
    age = m.age[base]
    independent_youth = (age >= 19) & (rng.random(base.size) < 0.5)
    children = base[(age < 21) & ~independent_youth]
    parents_pool = base[(age >= 21) & (age <= 60)]
    if children.size == 0 or parents_pool.size == 0:
        return
    families = int(np.ceil(children.size / palette.HOUSEHOLD_CHILDREN_PER_PARENT))
    families = min(families, parents_pool.size)
    parents = rng.choice(parents_pool, size=families, replace=False)
    parents = parents[np.argsort(-m.age[parents], kind="stable")]
    children = children[np.argsort(-m.age[children], kind="stable")]
    family = (np.arange(children.size) * families) // children.size
    head = np.empty(m.n, dtype=np.int64)
    head[children] = parents[family]
    spouses_pool = np.setdiff1d(base[(m.age[base] >= 21) & (m.age[base] <= 65)], parents)
    spouses = rng.choice(
        spouses_pool,
        size=min(spouses_pool.size, int(families * palette.SPOUSE_SHARE)),
        replace=False,
    )
    head[spouses] = rng.choice(parents, size=spouses.size)
    joined = np.concatenate([children, spouses])
    heads = head[joined]
    m.subscriber[joined] = heads
    for attr in ("last_name", "street_no", "street", "place", "zip_suffix", "phone", "language"):
        values = getattr(m, attr)
        values[joined] = values[heads]
    same_race = rng.random(joined.size) < 0.9
    m.race[joined] = np.where(same_race, m.race[heads], m.race[joined])
    m.hispanic[joined] = np.where(same_race, m.hispanic[heads], m.hispanic[joined])


def _enrollment(rng: np.random.Generator, m: Members, anchors: Anchors, end: int) -> None:
    months = (
        (anchors.end.year - anchors.window.year) * 12 + anchors.end.month - anchors.window.month + 1
    )
    w_month = month_start_days(np.array([to_day(anchors.window)], dtype=np.int32))[0]
    n = m.n
    pattern = pick(rng, palette.ENROLLMENT_PATTERNS, n)
    names = [p[0] for p in palette.ENROLLMENT_PATTERNS]
    if months < 3:
        pattern[:] = names.index("continuous")
    before = add_month_count(np.full(n, w_month, dtype=np.int32), -rng.integers(0, 61, n))
    late = add_month_count(np.full(n, w_month, dtype=np.int32), rng.integers(1, max(2, months), n))
    s1 = np.where(pattern == names.index("late_start"), late, before)
    s1 = np.maximum(s1, m.birth)
    k = rng.integers(0, max(1, months - 2), n)
    cut = month_end_days(add_month_count(np.full(n, w_month, dtype=np.int32), k))
    ends = (pattern == names.index("ended")) | (pattern == names.index("gap"))
    e1 = np.where(ends & (cut >= s1), cut, NULL_DAY).astype(np.int32)
    gap = rng.integers(1, 7, n)
    s2 = add_month_count(np.full(n, w_month, dtype=np.int32), k + 1 + gap)
    s2 = np.maximum(s2, m.birth)
    second = (pattern == names.index("gap")) & (e1 != NULL_DAY) & (s2 <= end)
    m.s1 = s1.astype(np.int32)
    m.e1 = e1
    m.s2 = np.where(second, s2, NULL_DAY).astype(np.int32)
    m.e2 = np.full(n, NULL_DAY, dtype=np.int32)


def _deaths(rng: np.random.Generator, m: Members) -> None:
    """A few base members die inside the window; enrollment ends at the month's end."""
    years = m.exposure_days / 365.25
    rate = by_age(palette.DEATH_RATES, m.age)
    dies = (~m.is_persona) & (m.exposure_days > 0) & (rng.random(m.n) < 1 - np.exp(-rate * years))
    idx = np.flatnonzero(dies)
    if idx.size == 0:
        return
    day, _ = m.draw_days(rng, idx)
    m.death[idx] = day
    month_end = month_end_days(day)
    in1 = (day <= m.x1e[idx]) & (day >= m.x1s[idx])
    # died in the first span: it ends at the death month's end, the second span goes
    planned_e1 = np.where(m.e1[idx] == NULL_DAY, month_end, m.e1[idx])
    m.e1[idx] = np.where(in1, np.minimum(month_end, planned_e1), m.e1[idx])
    m.s2[idx] = np.where(in1, NULL_DAY, m.s2[idx])
    e2 = np.where(~in1, month_end, m.e2[idx])
    m.e2[idx] = np.where(m.s2[idx] == NULL_DAY, NULL_DAY, e2)


def _aid_codes(rng: np.random.Generator, m: Members) -> None:
    child = m.age < 21
    aged = m.age >= 65
    nc, na, ng = (
        len(palette.AID_CODES_CHILD),
        len(palette.AID_CODES_ADULT),
        len(palette.AID_CODES_AGED),
    )
    m.aid = np.where(
        child,
        rng.integers(0, nc, m.n),
        np.where(aged, nc + na + rng.integers(0, ng, m.n), nc + rng.integers(0, na, m.n)),
    ).astype(np.int32)
    dual = aged & (rng.random(m.n) < palette.DUAL_SHARE_AGED)
    m.dual = np.where(dual, rng.integers(0, len(palette.DUAL_STATUS_CODES), m.n), -1).astype(
        np.int32
    )


def _conditions(rng: np.random.Generator, m: Members, vocab: Vocab) -> None:
    """Conditions of base members and the codes their claims carry (personas: none)."""
    child, young = m.age < 21, (m.age >= 21) & (m.age < 50)
    fill = np.zeros(m.n, dtype=np.int32)
    for c, (name, p_child, p_young, p_old, codes) in enumerate(palette.CONDITIONS):
        p = np.where(child, p_child, np.where(young, p_young, p_old))
        has = (~m.is_persona) & (rng.random(m.n) < p)
        m.conditions[:, c] = has
        code_idx = vocab.indices(codes)
        copies = 2 if name == "chronic_adult" else 1
        for copy in range(copies):
            take = has if copy == 0 else has & (rng.random(m.n) < 0.4)
            take &= fill < CODE_SLOTS
            idx = np.flatnonzero(take)
            m.codes[idx, fill[idx]] = code_idx[rng.integers(0, code_idx.size, idx.size)]
            fill[idx] += 1


def _personas(rng: np.random.Generator, m: Members, anchors: Anchors, slots: list[Slot]) -> None:
    """Write each persona slot's recipe attributes over the base draws."""
    if not slots:
        return
    anchor = birth_anchor_days(anchors.end, palette.MAX_AGE + 1)
    w_month = month_start_days(np.array([to_day(anchors.window)], dtype=np.int32))[0]
    early = add_month_count(np.array([w_month], dtype=np.int32), -24)[0]
    for slot in slots:
        i = slot.position
        role = PERSONAS[slot.persona].roles[slot.role]
        if role.birth:
            m.birth[i] = to_day(resolve(role.birth, anchors))
            m.age[i] = _age_at(m.birth[i], anchor)
        else:
            age = int(rng.integers(role.age[0], role.age[1] + 1))
            span = anchor[age] - anchor[age + 1]
            m.birth[i] = anchor[age] - int(rng.integers(0, span))
            m.age[i] = age
        if role.sex:
            m.female[i] = role.sex == "female"
            if m.first_name[i] >= len(palette.FIRST_NAMES_F) and m.female[i]:
                m.first_name[i] -= len(palette.FIRST_NAMES_F)
            elif m.first_name[i] < len(palette.FIRST_NAMES_F) and not m.female[i]:
                m.first_name[i] += len(palette.FIRST_NAMES_F)
        if role.race:
            m.race[i] = RACE_NAMES.index(role.race)
            m.hispanic[i] = rng.random() < palette.RACES[m.race[i]][2]
        head = slot.head_position
        m.subscriber[i] = head
        if i != head:
            for attr in (
                "last_name",
                "street_no",
                "street",
                "place",
                "zip_suffix",
                "phone",
                "language",
            ):
                getattr(m, attr)[i] = getattr(m, attr)[head]
        m.s1[i] = max(early, m.birth[i])
        m.e1[i] = to_day(resolve(role.enrolled_until, anchors)) if role.enrolled_until else NULL_DAY
        m.s2[i] = NULL_DAY
        m.e2[i] = NULL_DAY
        m.death[i] = to_day(resolve(role.died, anchors)) if role.died else NULL_DAY
        if role.died:
            m.e1[i] = m.death[i]


def _age_at(birth: int, anchor: np.ndarray) -> int:
    """Completed years at end for a birth day: the age whose interval holds it."""
    # anchor is decreasing: anchor[a] >= birth > anchor[a + 1]
    return int(np.flatnonzero(anchor >= birth)[-1])


def planted_personas(members: int, *, months: int, end: dt.date) -> pl.DataFrame:
    """Who `generate_feeds(members=members, months=months, end=end)` plants, with the
    population each exercises and whether it qualifies at `end` (True) or is a near miss
    of its rule (False); `population` is empty for a household member planted only to make
    the household (a newborn).

    Grain: one row per planted member. Independent of the seed and the format.
    """
    anchors = Anchors.of(end, months)
    rows: list[dict] = []
    for first in range(0, members, CHUNK_MEMBERS):
        n = min(CHUNK_MEMBERS, members - first)
        for slot in chunk_plan(n, anchors):
            role = PERSONAS[slot.persona].roles[slot.role]
            rows.append(
                {
                    "member_index": first + slot.position,
                    "persona": slot.persona,
                    "role": slot.role,
                    "population": role.population,
                    "qualifies": role.qualifies,
                    "note": PERSONAS[slot.persona].note,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "member_index": pl.Int64,
            "persona": pl.String,
            "role": pl.Int32,
            "population": pl.String,
            "qualifies": pl.Boolean,
            "note": pl.String,
        },
    )
    return frame.with_columns(member_ids(pl.col("member_index")).alias("member_id")).select(
        "member_id", "persona", "role", "population", "qualifies", "note"
    )
