"""Events: what happened to a member on a day (an office visit, an ED visit, a stay ...),
before it is billed. claims.py turns each event into the claims a feed would carry.

An event table is a dict of equal-length numpy arrays (columns below). Base members get
events drawn from rates (palette.EVENT_RATES) times a gamma frailty (most members few, a
few percent very heavy users), their conditions and their partner-feed facts; persona
members get their recipe's events and screening labs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecm.generate import palette
from ecm.generate.calendar import NULL_DAY, Anchors, resolve, to_date, to_day
from ecm.generate.members import Members, by_age, pick
from ecm.generate.personas import PERSONAS, Slot
from ecm.generate.vocab import Vocab

DX_WIDTH = 12
KINDS = (
    "office",
    "preventive",
    "lab",
    "outpatient",
    "ed",
    "urgent",
    "bh",
    "crisis",
    "stay",
    "nf",
    "prenatal",
)
K = {name: i for i, name in enumerate(KINDS)}
STAY_GENERAL, STAY_PSYCH, STAY_DELIVERY, STAY_NEWBORN = 0, 1, 2, 3
ADMIT_TYPE_CODES = ("", "1", "2", "3", "4", "5", "9")
ADMIT_SOURCE_CODES = ("", "1", "2", "4", "7")
DISPOSITION_CODES = ("", "01", "02", "03", "04", "06", "07", "20", "30", "62", "65")
ADMIT_TYPE_INDEX = np.array(
    [ADMIT_TYPE_CODES.index(c) for c, _ in palette.ADMIT_TYPES], dtype=np.int8
)
POS_CODES = ("11", "02", "10", "12", "15", "20", "21", "23", "53", "81", "03", "32")

# flags
FACILITY_ONLY = 1  # ED: no professional claim
PROFESSIONAL_ONLY = 2  # ED: no facility claim (its lines ride on the inpatient claim)
VOID = 4  # delivered again later as a void
CORRECT = 8  # delivered again later with another first diagnosis
PROTECT = 16  # a persona's event: never re-delivered at random
ED_ON_INPATIENT = 32  # a stay whose claim carries the ED revenue line
ONGOING = 64  # a nursing facility stay still open at the end date

COLUMNS: dict[str, tuple[type, int]] = {
    "member": (np.int32, -1),
    "kind": (np.int8, 0),
    "day": (np.int32, 0),
    "los": (np.int32, 0),
    "atype": (np.int8, 0),
    "asrc": (np.int8, 0),
    "disp": (np.int8, 0),
    "drg": (np.int32, -1),
    "hcpcs": (np.int32, -1),
    "hcpcs2": (np.int32, -1),
    "room": (np.int32, -1),
    "stay_type": (np.int8, STAY_GENERAL),
    "bill": (np.int16, 0),
    "facility": (np.int32, -1),
    "pos": (np.int8, -1),
    "flags": (np.int16, 0),
    "fix_dx": (np.int32, -1),
    "interim": (np.int8, 0),
    "proc": (np.int32, -1),
}

Events = dict[str, np.ndarray]


def make(n: int, **values) -> Events:
    """An event table of n rows; columns not given take their default."""
    ev: Events = {}
    for name, (dtype, default) in COLUMNS.items():
        if name in values:
            ev[name] = np.broadcast_to(np.asarray(values[name], dtype=dtype), (n,)).copy()
        else:
            ev[name] = np.full(n, default, dtype=dtype)
    dx = values.get("dx")
    ev["dx"] = np.full((n, DX_WIDTH), -1, dtype=np.int32) if dx is None else dx.astype(np.int32)
    return ev


def concat(tables: list[Events]) -> Events:
    tables = [t for t in tables if t["member"].size]
    if not tables:
        return make(0)
    return {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}


def take(ev: Events, mask: np.ndarray) -> Events:
    return {name: col[mask] for name, col in ev.items()}


def compact_dx(dx: np.ndarray) -> np.ndarray:
    """Diagnosis rows without holes or repeats of the first code, in their order."""
    dx = dx.copy()
    dx[:, 1:][dx[:, 1:] == dx[:, :1]] = -1
    # a repeated secondary: keep the first occurrence
    for j in range(2, dx.shape[1]):
        dup = (dx[:, j : j + 1] >= 0) & (dx[:, 1:j] == dx[:, j : j + 1]).any(axis=1, keepdims=True)
        dx[:, j : j + 1][dup] = -1
    order = np.argsort(dx < 0, axis=1, kind="stable")
    return np.take_along_axis(dx, order, axis=1)


class Palette:
    """The palette's code lists as vocabulary indices and weights, built once per run."""

    def __init__(self, vocab: Vocab) -> None:
        v = vocab
        self.vocab = v
        self.ed_dx = v.indices(c for c, _ in palette.ED_DX)
        self.ed_w = _norm([w for _, w in palette.ED_DX])
        self.office_dx = v.indices(c for c, _ in palette.OFFICE_ACUTE_DX)
        self.office_w = _norm([w for _, w in palette.OFFICE_ACUTE_DX])
        self.prev_adult = v.indices(palette.PREVENTIVE_DX_ADULT)
        self.prev_child = v.indices(palette.PREVENTIVE_DX_CHILD)
        self.lab_dx = v.indices(palette.LAB_DX)
        self.ip_secondary = v.indices(palette.INPATIENT_SECONDARY_DX)
        self.stays = {
            "adult": (
                v.indices(d for d, _, _ in palette.STAYS_ADULT),
                v.indices(g for _, g, _ in palette.STAYS_ADULT),
                _norm([w for *_, w in palette.STAYS_ADULT]),
            ),
            "child": (
                v.indices(d for d, _, _ in palette.STAYS_CHILD),
                v.indices(g for _, g, _ in palette.STAYS_CHILD),
                _norm([w for *_, w in palette.STAYS_CHILD]),
            ),
        }
        self.psych = {
            name: (v.indices(d for d, _ in pairs), v.indices(g for _, g in pairs))
            for name, pairs in palette.PSYCH_STAYS.items()
        }
        self.psych_rooms = v.indices(palette.PSYCH_ROOM_REVENUE)
        self.condition_ed = {
            name: (share, v.indices(codes))
            for name, (share, codes) in palette.CONDITION_ED_DX.items()
        }
        self.prenatal = v.indices(palette.PRENATAL_DX)
        self.postpartum = v.indices(palette.POSTPARTUM_DX)
        self.loss = v.indices(palette.PREGNANCY_LOSS_DX)
        self.loss_hcpcs = v.indices(palette.PREGNANCY_LOSS_HCPCS)
        self.delivery_secondary = v.indices(palette.DELIVERY_SECONDARY_DX)
        self.vaginal = v.indices(palette.DELIVERY_VAGINAL)
        self.cesarean = v.indices(palette.DELIVERY_CESAREAN)
        self.newborn = (
            v.indices(d for d, _ in palette.NEWBORN_DX),
            v.indices(g for _, g in palette.NEWBORN_DX),
        )
        self.ace = v.index("G9919")
        self.homeless = v.indices(("Z5900", "Z5901", "Z5902", "Z590"))
        self.ccs_dx = {name: v.index(code) for name, code in palette.CCS_CONDITIONS}
        self.lab_benign_adult = v.index("Z0000")
        self.lab_benign_child = v.index("Z00129")
        self.nf_dx = v.indices(palette.NURSING_FACILITY_DX)

    def is_mh(self) -> np.ndarray:
        """Per vocabulary index: a mental health / substance use code (F01-F99 but F17)."""
        return np.array([c.startswith("F") and not c.startswith("F17") for c in self.vocab.codes])


def _norm(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _choose(
    rng: np.random.Generator, values: np.ndarray, p: np.ndarray | None, size: int
) -> np.ndarray:
    return values[rng.choice(values.size, size=size, p=p)] if size else values[:0]


def _member_codes(
    rng: np.random.Generator, m: Members, member: np.ndarray, keep: float
) -> np.ndarray:
    """The members' condition codes, each kept with probability `keep` (n, CODE_SLOTS)."""
    codes = m.codes[member].copy()
    codes[rng.random(codes.shape) >= keep] = -1
    return codes


def _dx(primary: np.ndarray, *secondary: np.ndarray) -> np.ndarray:
    n = primary.size
    dx = np.full((n, DX_WIDTH), -1, dtype=np.int32)
    dx[:, 0] = primary
    col = 1
    for codes in secondary:
        block = codes[:, None] if codes.ndim == 1 else codes
        width = min(block.shape[1], DX_WIDTH - col)
        dx[:, col : col + width] = block[:, :width]
        col += width
    return compact_dx(dx)


def _primary_from_member(
    rng: np.random.Generator, m: Members, member: np.ndarray, share: float, fallback: np.ndarray
) -> np.ndarray:
    """One of the member's condition codes with probability `share`, else the fallback."""
    codes = m.codes[member]
    count = (codes >= 0).sum(axis=1)
    pick_slot = np.floor(rng.random(member.size) * np.maximum(count, 1)).astype(np.int64)
    own = codes[np.arange(member.size), pick_slot]
    use = (count > 0) & (rng.random(member.size) < share)
    return np.where(use, own, fallback).astype(np.int32)


@dataclass(frozen=True)
class _Rates:
    """Per-member multipliers of the base rates."""

    years: np.ndarray  # enrolled years in the window (0 for personas)
    visits: np.ndarray  # office visits and labs: frailty and number of conditions
    acute: np.ndarray  # ED visits and stays: frailty, conditions, homelessness


def _member_rates(m: Members, homeless_members: np.ndarray) -> _Rates:
    n_cond = m.conditions.sum(axis=1)
    acute = m.frailty.copy()
    for name, factor in palette.CONDITION_ED_FACTOR.items():
        acute = np.where(m.condition(name), acute * factor, acute)
    return _Rates(
        years=np.where(m.is_persona, 0.0, m.exposure_days / 365.25),
        visits=(1 + 0.35 * n_cond) * m.frailty**0.7,
        acute=np.where(homeless_members, acute * 2.0, acute),
    )


def _draw_events(rng: np.random.Generator, m: Members, rate: np.ndarray):
    """Poisson counts per member at `rate`, each event on a random enrolled day: the
    events' members, days and the end of the enrolled span each day falls in."""
    counts = rng.poisson(np.maximum(rate, 0.0))
    member = np.repeat(np.arange(rate.size, dtype=np.int32), counts)
    day, span_end = m.draw_days(rng, member) if member.size else (member, member)
    return member, day, span_end


def base_events(
    rng: np.random.Generator,
    m: Members,
    anchors: Anchors,
    pal: Palette,
    *,
    homeless_members: np.ndarray,
    nf_residents: np.ndarray,
) -> Events:
    """The statistical utilisation of base members over the history window."""
    rates = _member_rates(m, homeless_members)
    ed, ed_stays = _ed_visits(rng, m, pal, rates, homeless_members)
    member, day, span_end = _draw_events(
        rng, m, by_age(palette.EVENT_RATES["stay"], m.age) * rates.acute * rates.years
    )
    stays = concat(
        [
            ed_stays,
            _acute_stays(rng, m, pal, member, day, span_end),
            *_psych_stays(rng, m, pal, rates),
        ]
    )
    return concat(
        [
            *_visits(rng, m, pal, rates),
            ed,
            stays,
            _transfers(rng, m, stays),
            _post_acute(rng, m, anchors, stays),
            *_behavioural(rng, m, pal, rates),
            _pregnancies(rng, m, anchors, pal),
            _newborns(rng, m, anchors, pal),
            _nf_residents(rng, m, anchors, pal, nf_residents),
        ]
    )


def _visits(rng: np.random.Generator, m: Members, pal: Palette, rates: _Rates) -> list[Events]:
    """Office, preventive, lab, hospital outpatient and urgent care visits."""
    tables: list[Events] = []
    # office visits: a condition code as primary most of the time, else an acute problem
    member, day, _ = _draw_events(
        rng, m, by_age(palette.EVENT_RATES["office"], m.age) * rates.visits * rates.years
    )
    fallback = _choose(rng, pal.office_dx, pal.office_w, member.size)
    primary = _primary_from_member(rng, m, member, 0.65, fallback)
    dx = _dx(primary, _member_codes(rng, m, member, 0.5))
    tables.append(make(member.size, member=member, kind=K["office"], day=day, dx=dx))

    # preventive visits (well-child checks, adult physicals), some with an ACE screening
    member, day, _ = _draw_events(
        rng, m, by_age(palette.EVENT_RATES["preventive"], m.age) * rates.years
    )
    is_child = m.age[member] < 21
    primary = np.where(
        is_child,
        _choose(rng, pal.prev_child, None, member.size),
        _choose(rng, pal.prev_adult, None, member.size),
    )
    ace_share = np.where(is_child, palette.ACE_SCREEN_SHARE_CHILD, palette.ACE_SCREEN_SHARE_ADULT)
    ace = rng.random(member.size) < ace_share
    dx = _dx(primary, _member_codes(rng, m, member, 0.3))
    tables.append(
        make(
            member.size,
            member=member,
            kind=K["preventive"],
            day=day,
            dx=dx,
            hcpcs2=np.where(ace, pal.ace, -1),
        )
    )

    # labs and hospital outpatient services
    for kind, codes, weights in (
        ("lab", pal.lab_dx, None),
        ("outpatient", pal.office_dx, pal.office_w),
    ):
        member, day, _ = _draw_events(
            rng, m, by_age(palette.EVENT_RATES[kind], m.age) * rates.visits * rates.years
        )
        primary = _primary_from_member(
            rng, m, member, 0.5, _choose(rng, codes, weights, member.size)
        )
        dx = _dx(primary, _member_codes(rng, m, member, 0.3))
        tables.append(make(member.size, member=member, kind=K[kind], day=day, dx=dx))

    # urgent care
    rate = by_age(palette.EVENT_RATES["urgent"], m.age) * m.frailty**0.7 * rates.years
    member, day, _ = _draw_events(rng, m, rate)
    primary = _choose(rng, pal.office_dx, pal.office_w, member.size)
    dx = _dx(primary, _member_codes(rng, m, member, 0.3))
    tables.append(make(member.size, member=member, kind=K["urgent"], day=day, dx=dx))
    return tables


def _ed_visits(
    rng: np.random.Generator, m: Members, pal: Palette, rates: _Rates, homeless_members: np.ndarray
) -> tuple[Events, Events]:
    """ED visits, and the stays of those followed by an admission (same or next day)."""
    rate = by_age(palette.EVENT_RATES["ed"], m.age) * rates.acute * rates.years
    member, day, _ = _draw_events(rng, m, rate)
    n = member.size
    primary = _choose(rng, pal.ed_dx, pal.ed_w, n)
    for name, (share, codes) in pal.condition_ed.items():
        has = m.condition(name)[member] & (rng.random(n) < share)
        primary = np.where(has, _choose(rng, codes, None, n), primary)
    homeless_code = _choose(rng, pal.homeless, None, n)
    z59 = np.where(homeless_members[member] & (rng.random(n) < 0.4), homeless_code, -1)
    dx = _dx(primary, _member_codes(rng, m, member, 0.5), z59)
    shape = pick(rng, palette.ED_CLAIM_SHAPES, n)
    flags = np.select([shape == 1, shape == 2], [FACILITY_ONLY, PROFESSIONAL_ONLY], 0)
    admitted = rng.random(n) < palette.ED_ADMIT_SHARE
    admit_day = day + (rng.random(n) < palette.ED_ADMIT_NEXT_DAY_SHARE).astype(np.int32)
    admit_end = m.exposure_end_at(member, admit_day)
    admitted &= admit_end != NULL_DAY
    # half the admitted visits bill their ED lines on the inpatient claim
    on_inpatient = admitted & (rng.random(n) < palette.ED_LINES_ON_INPATIENT_SHARE)
    flags = np.where(on_inpatient, PROFESSIONAL_ONLY, flags).astype(np.int16)
    a = np.flatnonzero(admitted)
    stays = _acute_stays(rng, m, pal, member[a], admit_day[a], admit_end[a])
    stays["asrc"][:] = ADMIT_SOURCE_CODES.index("7")
    stays["atype"][:] = ADMIT_TYPE_CODES.index("1")
    stays["flags"] = np.where(on_inpatient[a], ED_ON_INPATIENT, 0).astype(np.int16)
    dx[a, 0] = stays["dx"][:, 0]  # the visit carries the stay's principal diagnosis
    return make(n, member=member, kind=K["ed"], day=day, dx=dx, flags=flags), stays


def _psych_stays(rng: np.random.Generator, m: Members, pal: Palette, rates: _Rates) -> list[Events]:
    """Psychiatric and substance use stays (psychiatric room revenue codes)."""
    tables: list[Events] = []
    for name, (principal, drg) in pal.psych.items():
        rate = np.where(m.condition(name), palette.PSYCH_STAY_RATES[name], 0.0)
        member, day, span_end = _draw_events(rng, m, rate * rates.acute * rates.years)
        n = member.size
        which = rng.integers(0, principal.size, n)
        tables.append(
            make(
                n,
                member=member,
                kind=K["stay"],
                day=day,
                los=np.minimum(3 + rng.geometric(1 / 6, n), span_end - day),
                dx=_dx(principal[which], _member_codes(rng, m, member, 0.8)),
                drg=drg[which],
                room=_choose(rng, pal.psych_rooms, None, n),
                stay_type=STAY_PSYCH,
                atype=ADMIT_TYPE_INDEX[pick(rng, palette.ADMIT_TYPES, n)],
                disp=DISPOSITION_CODES.index("01"),
            )
        )
    return tables


def _behavioural(rng: np.random.Generator, m: Members, pal: Palette, rates: _Rates) -> list[Events]:
    """Behavioural health visits and crisis services of members with a condition."""
    tables: list[Events] = []
    mh_lookup = pal.is_mh()
    for name, rate in palette.BH_VISIT_RATES.items():
        r = np.where(m.condition(name), rate, 0.0) * m.frailty**0.5 * rates.years
        member, day, _ = _draw_events(rng, m, r)
        dx = _dx(_mh_code(m, member, mh_lookup, pal), _member_codes(rng, m, member, 0.3))
        tables.append(make(member.size, member=member, kind=K["bh"], day=day, dx=dx))
    crisis_rate = np.full(m.n, palette.CRISIS_RATES["none"])
    for name in ("mh_other", "sud", "smi"):
        crisis_rate = np.where(m.condition(name), palette.CRISIS_RATES[name], crisis_rate)
    member, day, _ = _draw_events(rng, m, crisis_rate * m.frailty**0.5 * rates.years)
    dx = _dx(_mh_code(m, member, mh_lookup, pal))
    tables.append(make(member.size, member=member, kind=K["crisis"], day=day, dx=dx))
    return tables


def _mh_code(m: Members, member: np.ndarray, mh_lookup: np.ndarray, pal: Palette) -> np.ndarray:
    """The member's first mental health / substance code, else an anxiety code."""
    codes = m.codes[member]
    is_mh = np.where(codes >= 0, mh_lookup[np.maximum(codes, 0)], False)
    has = is_mh.any(axis=1)
    first = codes[np.arange(member.size), np.argmax(is_mh, axis=1)]
    return np.where(has, first, pal.vocab.index("F419")).astype(np.int32)


def _acute_stays(rng, m: Members, pal: Palette, member, day, span_end) -> Events:
    child = m.age[member] < 21
    out = np.empty(member.size, dtype=np.int32)
    drg = np.empty(member.size, dtype=np.int32)
    for group, mask in (("adult", ~child), ("child", child)):
        principal, drgs, w = pal.stays[group]
        idx = np.flatnonzero(mask)
        which = rng.choice(principal.size, size=idx.size, p=w)
        out[idx], drg[idx] = principal[which], drgs[which]
    los = np.minimum(1 + rng.geometric(1 / 3.5, member.size), np.maximum(span_end - day, 0)).astype(
        np.int32
    )
    atype = pick(rng, palette.ADMIT_TYPES, member.size)
    disp = pick(rng, palette.ACUTE_DISPOSITIONS, member.size)
    extra = np.where(
        rng.random((member.size, 3)) < 0.5,
        _choose(rng, pal.ip_secondary, None, member.size * 3).reshape(-1, 3),
        -1,
    )
    return make(
        member.size,
        member=member,
        kind=K["stay"],
        day=day,
        los=los,
        dx=_dx(out, _member_codes(rng, m, member, 0.8), extra),
        drg=drg,
        atype=ADMIT_TYPE_INDEX[atype],
        asrc=ADMIT_SOURCE_CODES.index("1"),
        disp=np.array(
            [DISPOSITION_CODES.index(c) for c, _ in palette.ACUTE_DISPOSITIONS], dtype=np.int8
        )[disp],
        facility=rng.integers(0, palette.HOSPITALS, member.size),
    )


def _transfers(rng, m: Members, stays: Events) -> Events:
    """A few acute stays continue at a second hospital the day of discharge or the next."""
    general = (stays["stay_type"] == STAY_GENERAL) & (stays["member"] >= 0)
    pick_ = general & (rng.random(stays["member"].size) < palette.TRANSFER_SHARE)
    idx = np.flatnonzero(pick_)
    discharge = stays["day"][idx] + stays["los"][idx]
    start = discharge + (rng.random(idx.size) < 0.5)
    member = stays["member"][idx]
    span_end = m.exposure_end_at(member, start.astype(np.int32))
    ok = span_end != NULL_DAY
    idx, start, member, span_end = idx[ok], start[ok], member[ok], span_end[ok]
    stays["disp"][idx] = DISPOSITION_CODES.index("02")
    los = np.minimum(1 + rng.geometric(1 / 4, idx.size), span_end - start).astype(np.int32)
    return make(
        idx.size,
        member=member,
        kind=K["stay"],
        day=start,
        los=los,
        dx=stays["dx"][idx],
        drg=stays["drg"][idx],
        atype=ADMIT_TYPE_CODES.index("1"),
        asrc=ADMIT_SOURCE_CODES.index("4"),
        disp=DISPOSITION_CODES.index("01"),
        facility=(stays["facility"][idx] + 1 + rng.integers(0, palette.HOSPITALS - 1, idx.size))
        % palette.HOSPITALS,
    )


def _post_acute(rng, m: Members, anchors: Anchors, stays: Events) -> Events:
    """Skilled nursing after an acute stay of a member 65 or older."""
    old = m.age[np.maximum(stays["member"], 0)] >= 65
    general = stays["stay_type"] == STAY_GENERAL
    idx = np.flatnonzero(old & general & (rng.random(old.size) < palette.POST_ACUTE_SNF_SHARE))
    member = stays["member"][idx]
    start = (stays["day"][idx] + stays["los"][idx]).astype(np.int32)
    span_end = m.exposure_end_at(member, start)
    ok = span_end != NULL_DAY
    idx, member, start, span_end = idx[ok], member[ok], start[ok], span_end[ok]
    stays["disp"][idx] = DISPOSITION_CODES.index("03")
    los = rng.integers(7, 61, idx.size).astype(np.int32)
    end = to_day(anchors.end)
    ongoing = (start + los > span_end) & (span_end == end)
    los = np.minimum(los, span_end - start).astype(np.int32)
    disp = np.array(
        [DISPOSITION_CODES.index(c) for c, _ in palette.SNF_DISPOSITIONS], dtype=np.int8
    )[pick(rng, palette.SNF_DISPOSITIONS, idx.size)]
    swing = rng.random(idx.size) < palette.SWING_BED_SHARE
    return make(
        idx.size,
        member=member,
        kind=K["nf"],
        day=start,
        los=los,
        dx=stays["dx"][idx],
        disp=np.where(ongoing, 0, disp),
        bill=np.where(swing, 181, 211),
        flags=np.where(ongoing, ONGOING, 0),
        facility=rng.integers(0, palette.NURSING_FACILITIES, idx.size),
    )


def _nf_residents(rng, m: Members, anchors: Anchors, pal: Palette, residents: np.ndarray) -> Events:
    """Long nursing facility stays of residents (from the assessments feed)."""
    member = np.flatnonzero(residents).astype(np.int32)
    if member.size == 0:
        return make(0)
    w = to_day(anchors.window)
    end = to_day(anchors.end)
    start = (w - rng.integers(30, 900, member.size)).astype(np.int32)
    start = np.maximum(start, m.s1[member])
    discharged = rng.random(member.size) < 0.3
    out_day, _ = m.draw_days(rng, member)
    los = np.where(discharged, out_day - start, end - start).astype(np.int32)
    disp_codes = np.array(
        [DISPOSITION_CODES.index(c) for c in ("01", "06", "20", "02")], dtype=np.int8
    )
    disp = disp_codes[rng.choice(4, size=member.size, p=[0.4, 0.2, 0.25, 0.15])]
    dx = _dx(_choose(rng, pal.nf_dx, None, member.size), _member_codes(rng, m, member, 0.8))
    return make(
        member.size,
        member=member,
        kind=K["nf"],
        day=start,
        los=np.maximum(los, 1),
        dx=dx,
        disp=np.where(discharged, disp, 0),
        bill=211,
        flags=np.where(discharged, 0, ONGOING),
        facility=rng.integers(0, palette.NURSING_FACILITIES, member.size),
    )


def _pregnancies(rng, m: Members, anchors: Anchors, pal: Palette) -> Events:
    """Prenatal visits, deliveries (vaginal / cesarean), losses and postpartum visits."""
    w, end = to_day(anchors.window), to_day(anchors.end)
    eligible = (~m.is_persona) & m.female & (m.age >= 15) & (m.age <= 44) & (m.exposure_days > 0)
    span_years = (end + 270 - w) / 365.25
    pregnant = eligible & (rng.random(m.n) < 1 - np.exp(-palette.PREGNANCY_RATE * span_years))
    member = np.flatnonzero(pregnant).astype(np.int32)
    delivery = (w + np.floor(rng.random(member.size) * (end + 270 - w))).astype(np.int32)
    conception = delivery - 273
    loss = rng.random(member.size) < palette.PREGNANCY_LOSS_SHARE
    loss_day = conception + rng.integers(49, 91, member.size)
    stop = np.where(loss, loss_day, delivery - 7)
    tables: list[Events] = []
    # prenatal visits every four weeks from week 8
    grid = conception[:, None] + 56 + 28 * np.arange(9)[None, :]
    ok = (grid < stop[:, None]) & (grid >= w) & (grid <= end)
    rows, cols = np.nonzero(ok)
    v_member, v_day = member[rows], grid[rows, cols].astype(np.int32)
    enrolled = m.exposure_end_at(v_member, v_day) != NULL_DAY
    v_member, v_day = v_member[enrolled], v_day[enrolled]
    n = v_member.size
    weeks = np.array([f"Z3A{w_}" for w_ in ("10", "12", "16", "20", "24", "28", "32", "36", "38")])
    z3a = pal.vocab.indices(weeks[np.clip(cols[enrolled], 0, 8)])
    tables.append(
        make(
            n,
            member=v_member,
            kind=K["prenatal"],
            day=v_day,
            dx=_dx(_choose(rng, pal.prenatal, None, n), z3a),
        )
    )
    # losses
    in_window = loss & (loss_day >= w) & (loss_day <= end)
    idx = np.flatnonzero(in_window)
    idx = idx[m.exposure_end_at(member[idx], loss_day[idx].astype(np.int32)) != NULL_DAY]
    tables.append(
        make(
            idx.size,
            member=member[idx],
            kind=K["office"],
            day=loss_day[idx],
            dx=_dx(_choose(rng, pal.loss, None, idx.size)),
            hcpcs=_choose(rng, pal.loss_hcpcs, None, idx.size),
        )
    )
    # deliveries and postpartum visits
    delivered = ~loss & (delivery >= w) & (delivery <= end)
    idx = np.flatnonzero(delivered)
    span_end = m.exposure_end_at(member[idx], delivery[idx])
    idx, span_end = idx[span_end != NULL_DAY], span_end[span_end != NULL_DAY]
    cesarean = rng.random(idx.size) < palette.CESAREAN_SHARE
    principal = np.where(cesarean, pal.cesarean[0], pal.vaginal[0])
    drg = np.where(cesarean, pal.cesarean[1], pal.vaginal[1])
    proc = np.where(cesarean, pal.cesarean[2], pal.vaginal[2])
    secondary = np.stack(
        [
            np.full(idx.size, pal.delivery_secondary[0]),
            _choose(rng, pal.delivery_secondary[1:], None, idx.size),
        ],
        axis=1,
    )
    los = np.minimum(np.where(cesarean, 3, 2), np.maximum(span_end - delivery[idx], 0)).astype(
        np.int32
    )
    atype = np.array([ADMIT_TYPE_CODES.index(c) for c in ("1", "2", "3")], dtype=np.int8)[
        rng.choice(3, size=idx.size, p=[0.3, 0.4, 0.3])
    ]
    tables.append(
        make(
            idx.size,
            member=member[idx],
            kind=K["stay"],
            day=delivery[idx],
            los=los,
            dx=_dx(principal, secondary),
            drg=drg,
            proc=proc,
            atype=atype,
            stay_type=STAY_DELIVERY,
            asrc=ADMIT_SOURCE_CODES.index("1"),
            disp=DISPOSITION_CODES.index("01"),
            facility=rng.integers(0, palette.HOSPITALS, idx.size),
        )
    )
    pp_day = (delivery[idx] + rng.integers(21, 43, idx.size)).astype(np.int32)
    keep = (pp_day <= end) & (m.exposure_end_at(member[idx], pp_day) != NULL_DAY)
    tables.append(
        make(
            int(keep.sum()),
            member=member[idx][keep],
            kind=K["office"],
            day=pp_day[keep],
            dx=_dx(_choose(rng, pal.postpartum, None, int(keep.sum()))),
        )
    )
    return concat(tables)


def _newborns(rng, m: Members, anchors: Anchors, pal: Palette) -> Events:
    w, end = to_day(anchors.window), to_day(anchors.end)
    born = (
        (~m.is_persona)
        & (m.birth >= w)
        & (m.birth <= end)
        & (rng.random(m.n) < palette.NEWBORN_STAY_SHARE)
    )
    member = np.flatnonzero(born).astype(np.int32)
    span_end = m.exposure_end_at(member, m.birth[member])
    member, span_end = member[span_end != NULL_DAY], span_end[span_end != NULL_DAY]
    day = m.birth[member]
    which = rng.choice(len(palette.NEWBORN_DX), size=member.size, p=[0.6, 0.3, 0.1])
    los = np.minimum(rng.integers(1, 4, member.size), span_end - day).astype(np.int32)
    return make(
        member.size,
        member=member,
        kind=K["stay"],
        day=day,
        los=los,
        dx=_dx(pal.newborn[0][which]),
        drg=pal.newborn[1][which],
        atype=ADMIT_TYPE_CODES.index("4"),
        stay_type=STAY_NEWBORN,
        disp=DISPOSITION_CODES.index("01"),
        facility=rng.integers(0, palette.HOSPITALS, member.size),
    )


def persona_events(m: Members, anchors: Anchors, pal: Palette, slots: list[Slot]) -> Events:
    """Each persona's recipe events, and two screening labs (they touch no rule)."""
    v = pal.vocab
    w, end = to_day(anchors.window), to_day(anchors.end)
    rows: dict[str, list] = {name: [] for name in (*COLUMNS, "dx")}
    cache: dict[str, int] = {}

    def day_of(expr: str, birth: int) -> int:
        if expr.startswith("B"):
            return to_day(resolve(expr, anchors, to_date(birth)))
        if expr not in cache:
            cache[expr] = to_day(resolve(expr, anchors))
        return cache[expr]

    def add(**values) -> None:
        dx = values.pop("dx")
        row = np.full(DX_WIDTH, -1, dtype=np.int32)
        row[: len(dx)] = dx
        rows["dx"].append(row)
        for name, (_, default) in COLUMNS.items():
            rows[name].append(values.get(name, default))

    for slot in slots:
        i = slot.position
        role = PERSONAS[slot.persona].roles[slot.role]
        birth = int(m.birth[i])
        alive_until = end if m.death[i] == NULL_DAY else int(m.death[i])
        enrolled_until = end if m.e1[i] == NULL_DAY else min(end, int(m.e1[i]))
        hospital = (m.first + i) * 7 % palette.HOSPITALS
        for c in role.claims:
            day = day_of(c.at, birth)
            flags = PROTECT
            flags |= FACILITY_ONLY if c.facility_only else 0
            flags |= VOID if c.voided else 0
            flags |= CORRECT if c.corrected_dx else 0
            flags |= ONGOING if c.ongoing else 0
            stay_type = STAY_GENERAL
            if c.admit_type == "4":
                stay_type = STAY_NEWBORN
            elif c.drg in {"807", "788", "768"} or (c.dx and c.dx[0][:3] in {"O80", "O82"}):
                stay_type = STAY_DELIVERY
            elif c.room in palette.PSYCH_ROOM_REVENUE:
                stay_type = STAY_PSYCH
            los = c.los if not c.ongoing else max(1, end - day)
            add(
                member=i,
                kind=K[c.kind],
                day=day,
                los=los,
                dx=[v.index(d) for d in c.dx],
                atype=ADMIT_TYPE_CODES.index(c.admit_type) if c.kind == "stay" else 0,
                asrc=ADMIT_SOURCE_CODES.index(
                    c.admit_source or ("" if stay_type == STAY_NEWBORN else "1")
                ),
                disp=0 if c.ongoing else DISPOSITION_CODES.index(c.disposition or "01"),
                drg=v.index(c.drg) if c.drg else -1,
                hcpcs=v.index(c.hcpcs) if c.hcpcs else -1,
                hcpcs2=v.index(c.extra_hcpcs) if c.extra_hcpcs else -1,
                room=v.index(c.room) if c.room else -1,
                stay_type=stay_type,
                bill=int(c.bill_type) if c.bill_type else (211 if c.kind == "nf" else 0),
                facility=(hospital + c.facility) % palette.HOSPITALS
                if c.kind != "nf"
                else (m.first + i) % palette.NURSING_FACILITIES,
                flags=flags,
                fix_dx=v.index(c.corrected_dx) if c.corrected_dx else -1,
                interim=c.interim,
                proc=v.index(c.procedure) if c.procedure else -1,
            )
        benign = pal.lab_benign_child if m.age[i] < 21 else pal.lab_benign_adult
        for expr in ("D-200d", "D-30d"):
            day = day_of(expr, birth)
            if max(w, birth, int(m.s1[i])) <= day <= min(alive_until, enrolled_until):
                add(member=i, kind=K["lab"], day=day, dx=[benign], flags=PROTECT)
    n = len(rows["member"])
    if n == 0:
        return make(0)
    values = {name: np.array(rows[name]) for name in COLUMNS}
    return make(n, dx=np.array(rows["dx"]), **values)
