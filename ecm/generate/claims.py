"""Claims from events: the claims and claim lines a Medi-Cal feed would carry, in the
Tuva Project input layer (medical_claim), plus re-delivered versions.

- office / preventive / lab / urgent care / behavioural health / crisis / prenatal visits:
  one professional claim (place of service 11, 81, 20, 02/10/53, 15/53/12);
- hospital outpatient services: an institutional claim, bill type 131;
- an ED visit: an outpatient facility claim (131, revenue 045x first, HCPCS 9928x on some)
  and a professional claim the same day (place of service 23, HCPCS 9928x);
- an acute stay: an inpatient claim (111; or interim bills 112/113/114 with contiguous
  dates) with admission and discharge dates, admit type and source, MS-DRG, principal
  diagnosis; and a professional claim of the inpatient visits (place of service 21);
- a nursing facility stay: one claim per calendar month (211 or 181 swing bed; 212 / 213 /
  214 interim frequencies; disposition 30 "still a patient" until the last).

Claim-level codes are held as vocabulary indices; `render` writes the strings of one batch
of lines. Some claims are written the way other feeds write them: ICD-10 with the dot,
revenue codes in 3 digits, bill types in 4 (palette shares).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from data_contracts import load_contract
from ecm.generate import palette
from ecm.generate.calendar import (
    NULL_DAY,
    Anchors,
    add_month_count,
    month_end_days,
    month_start_days,
    to_day,
)
from ecm.generate.events import (
    ADMIT_SOURCE_CODES,
    ADMIT_TYPE_CODES,
    CORRECT,
    DISPOSITION_CODES,
    DX_WIDTH,
    ED_ON_INPATIENT,
    FACILITY_ONLY,
    ONGOING,
    POS_CODES,
    PROFESSIONAL_ONLY,
    PROTECT,
    STAY_DELIVERY,
    STAY_NEWBORN,
    STAY_PSYCH,
    VOID,
    Events,
    K,
    Palette,
    take,
)
from ecm.generate.members import Members, member_ids, pick
from ecm.generate.vocab import Vocab, gather

TAGS = tuple(palette.PAID_MEDIAN)
T = {name: i for i, name in enumerate(TAGS)}
SOURCES = tuple(s for s, _ in palette.CLAIM_SOURCES)

CLAIM_COLUMNS: dict[str, tuple[type, int]] = {
    "member": (np.int32, -1),
    "inst": (np.bool_, False),
    "tag": (np.int8, 0),
    "start": (np.int32, 0),
    "end": (np.int32, 0),
    "adm": (np.int32, NULL_DAY),
    "dis": (np.int32, NULL_DAY),
    "atype": (np.int8, 0),
    "asrc": (np.int8, 0),
    "disp": (np.int8, 0),
    "drg": (np.int32, -1),
    "bill": (np.int16, 0),
    "pos": (np.int8, -1),
    "fac": (np.int32, -1),
    "rend": (np.int32, -1),
    "l1_rev": (np.int32, -1),
    "l1_hcpcs": (np.int32, -1),
    "l1_units": (np.int32, 1),
    "l2_rev": (np.int32, -1),
    "l2_hcpcs": (np.int32, -1),
    "n_extra": (np.int32, 0),
    "pool": (np.int8, -1),
    "step": (np.int8, 0),
    "flags": (np.int16, 0),
    "fix_dx": (np.int32, -1),
    "proc": (np.int32, -1),
    "poa": (np.bool_, False),
}
Claims = dict[str, np.ndarray]


# --- providers ---------------------------------------------------------------------------


def npi_check_digit(nine: str) -> str:
    """The NPI check digit (Luhn over the prefix 80840 and the first nine digits)."""
    total = 0
    for i, digit in enumerate(reversed([int(d) for d in "80840" + nine])):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return str((10 - total % 10) % 10)


def make_npis(count: int, stream: int) -> list[str]:
    """`count` distinct valid NPIs, the same for every seed (providers do not change)."""
    rng = np.random.default_rng([2026, stream])
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        nine = "1" + "".join(str(d) for d in rng.integers(0, 10, 8))
        npi = nine + npi_check_digit(nine)
        if npi not in seen:
            seen.add(npi)
            out.append(npi)
    return out


HOSPITAL0 = 0
NF0 = HOSPITAL0 + palette.HOSPITALS
CLINICIAN0 = NF0 + palette.NURSING_FACILITIES
LAB0 = CLINICIAN0 + palette.CLINICIANS
HOSPICE0 = LAB0 + palette.LABS
NPIS = make_npis(HOSPICE0 + palette.HOSPICES, stream=1)
ECM_PROVIDER_NPIS = make_npis(len(palette.ECM_PROVIDERS), stream=2)


def office_renderer(member: np.ndarray, tag: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """Per claim, the ECM provider (index into ECM_PROVIDER_NPIS) that renders it, else -1:
    every palette.PCP_ECM_EVERY-th member (global index) sees one ECM provider, a clinic
    on the plan's roster, for all of their office visits, so the proposals' primary care
    provider rule (`pcp`) has members to find. No random draw: the other feeds are as
    they were."""
    chosen = (tag == T["office"]) & ~inst & (member % palette.PCP_ECM_EVERY == 0)
    place = (member // palette.PCP_ECM_EVERY) % len(palette.ECM_PROVIDERS)
    return np.where(chosen, place, -1)


# --- line pools ------------------------------------------------------------------------


class LinePools:
    """Line content (revenue code, HCPCS) to draw from, by pool name."""

    def __init__(self, vocab: Vocab) -> None:
        self.names: list[str] = []
        self.rev: list[np.ndarray] = []
        self.hcpcs: list[np.ndarray] = []
        self.p: list[np.ndarray] = []
        for name, table in (
            ("office", palette.OFFICE_EXTRA_LINES),
            ("preventive", palette.PREVENTIVE_EXTRA_LINES),
            ("lab", palette.LAB_LINES),
            ("outpatient", palette.OUTPATIENT_LINES),
            ("ed_facility", palette.ED_FACILITY_EXTRA_LINES),
            ("urgent", palette.URGENT_EXTRA_LINES),
            ("bh", palette.BH_LINES),
            ("inpatient", palette.INPATIENT_EXTRA_LINES),
            ("ob", palette.OB_EXTRA_LINES),
            ("nursery", palette.NURSERY_EXTRA_LINES),
            ("nf", palette.NF_EXTRA_LINES),
            ("prenatal", palette.PRENATAL_EXTRA_LINES),
            ("ip_professional", tuple(("", c, w) for c, w in palette.INPATIENT_PROFESSIONAL_NEXT)),
            ("newborn_professional", (("", "99462", 1.0),)),
            ("nf_professional", (("", "99309", 1.0), ("", "99308", 1.0))),
        ):
            self.names.append(name)
            self.rev.append(
                np.array([vocab.index(r) if r else -1 for r, _, _ in table], dtype=np.int32)
            )
            self.hcpcs.append(
                np.array([vocab.index(h) if h else -1 for _, h, _ in table], dtype=np.int32)
            )
            w = np.array([w for *_, w in table], dtype=float)
            self.p.append(w / w.sum())

    def id(self, name: str) -> int:
        return self.names.index(name)

    def draw(self, rng: np.random.Generator, name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        i = self.id(name)
        which = rng.choice(self.p[i].size, size=size, p=self.p[i])
        return self.rev[i][which], self.hcpcs[i][which]


def _codes(vocab: Vocab, pairs) -> tuple[np.ndarray, np.ndarray]:
    return vocab.indices(c for c, _ in pairs), np.array([w for _, w in pairs], dtype=float) / sum(
        w for _, w in pairs
    )


def _draw(rng: np.random.Generator, vocab: Vocab, pairs, size: int) -> np.ndarray:
    codes, p = _codes(vocab, pairs)
    return codes[rng.choice(codes.size, size=size, p=p)] if size else codes[:0]


def _block(n: int, dx: np.ndarray | None = None, **values) -> Claims:
    block: Claims = {}
    for name, (dtype, default) in CLAIM_COLUMNS.items():
        if name in values:
            block[name] = np.broadcast_to(np.asarray(values[name], dtype=dtype), (n,)).copy()
        else:
            block[name] = np.full(n, default, dtype=dtype)
    block["dx"] = np.full((n, DX_WIDTH), -1, dtype=np.int32) if dx is None else dx
    return block


def _concat(blocks: list[Claims]) -> Claims:
    blocks = [b for b in blocks if b["member"].size]
    if not blocks:
        return _block(0)
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


# --- events -> claims --------------------------------------------------------------------


def build_claims(
    rng: np.random.Generator,
    ev: Events,
    m: Members,
    anchors: Anchors,
    pal: Palette,
    pools: LinePools,
) -> Claims:
    """Every claim of the chunk's events (original versions)."""
    v = pal.vocab
    blocks: list[Claims] = []
    pos = {code: i for i, code in enumerate(POS_CODES)}

    def clinicians(size: int) -> np.ndarray:
        return CLINICIAN0 + rng.integers(0, palette.CLINICIANS, size)

    def labs(size: int) -> np.ndarray:
        return LAB0 + rng.integers(0, palette.LABS, size)

    def professional(kind: str, place, first, pool: str, rend=clinicians) -> None:
        e = take(ev, ev["kind"] == K[kind])
        n = e["member"].size
        if n == 0:
            return
        place = np.where(e["pos"] >= 0, e["pos"], place(n) if callable(place) else pos[place])
        first_line = np.where(e["hcpcs"] >= 0, e["hcpcs"], first(e))
        blocks.append(
            _block(
                n,
                dx=e["dx"],
                member=e["member"],
                tag=T[kind],
                start=e["day"],
                end=e["day"],
                pos=place,
                rend=rend(n),
                l1_hcpcs=first_line,
                l2_hcpcs=e["hcpcs2"],
                n_extra=rng.poisson(palette.EXTRA_LINES_MEAN[kind], n),
                pool=pools.id(pool),
                flags=e["flags"] & PROTECT,
            )
        )

    def office_em(e: Events) -> np.ndarray:
        n = e["member"].size
        new = rng.random(n) < 0.15
        return np.where(
            new,
            _draw(rng, v, palette.OFFICE_EM_NEW, n),
            _draw(rng, v, palette.OFFICE_EM_ESTABLISHED, n),
        )

    def preventive_em(e: Events) -> np.ndarray:
        table = palette.PREVENTIVE_EM
        bounds = np.array([b for b, _ in table])
        codes = v.indices(c for _, c in table)
        return codes[np.searchsorted(bounds, m.age[e["member"]], side="right") - 1]

    def from_pool(name: str):
        def first(e: Events) -> np.ndarray:
            return pools.draw(rng, name, e["member"].size)[1]

        return first

    def from_table(table):
        def first(e: Events) -> np.ndarray:
            return _draw(rng, v, table, e["member"].size)

        return first

    def places(pairs):
        def draw(n: int) -> np.ndarray:
            return np.array([pos[c] for c, _ in pairs], dtype=np.int8)[pick(rng, pairs, n)]

        return draw

    professional("office", "11", office_em, "office")
    professional("preventive", "11", preventive_em, "preventive")
    professional("lab", "81", from_pool("lab"), "lab", rend=labs)
    professional("urgent", "20", from_table(palette.URGENT_EM), "urgent")
    professional("bh", places(palette.BH_PLACES), from_pool("bh"), "bh")
    professional("prenatal", "11", from_table(palette.PRENATAL_EM), "prenatal")
    _crisis(rng, ev, v, blocks, places(palette.CRISIS_PLACES), clinicians)
    _outpatient(rng, ev, blocks, pools)
    _ed(rng, ev, v, blocks, pools, clinicians)
    _stays(rng, ev, v, blocks, pools)
    _stay_professionals(rng, ev, v, blocks, pools, clinicians)
    _nursing(rng, ev, v, blocks, pools, clinicians, anchors)
    return _concat(blocks)


def _crisis(rng, ev: Events, v: Vocab, blocks: list[Claims], places, clinicians) -> None:
    e = take(ev, ev["kind"] == K["crisis"])
    n = e["member"].size
    if n == 0:
        return
    code = np.where(e["hcpcs"] >= 0, e["hcpcs"], _draw(rng, v, palette.CRISIS_CODES, n))
    add_on = (code == v.index("90839")) & (rng.random(n) < 0.5)
    blocks.append(
        _block(
            n,
            dx=e["dx"],
            member=e["member"],
            tag=T["crisis"],
            start=e["day"],
            end=e["day"],
            pos=places(n),
            rend=clinicians(n),
            l1_hcpcs=code,
            l2_hcpcs=np.where(add_on, v.index("90840"), -1),
            flags=e["flags"] & PROTECT,
        )
    )


def _outpatient(rng, ev: Events, blocks: list[Claims], pools: LinePools) -> None:
    e = take(ev, ev["kind"] == K["outpatient"])
    n = e["member"].size
    if n == 0:
        return
    rev, hcpcs = pools.draw(rng, "outpatient", n)
    blocks.append(
        _block(
            n,
            dx=e["dx"],
            member=e["member"],
            inst=True,
            tag=T["outpatient"],
            start=e["day"],
            end=e["day"],
            bill=131,
            fac=HOSPITAL0 + rng.integers(0, palette.HOSPITALS, n),
            l1_rev=rev,
            l1_hcpcs=hcpcs,
            n_extra=rng.poisson(palette.EXTRA_LINES_MEAN["outpatient"], n),
            pool=pools.id("outpatient"),
            flags=e["flags"] & PROTECT,
        )
    )


def _ed(rng, ev: Events, v: Vocab, blocks: list[Claims], pools: LinePools, clinicians) -> None:
    e = take(ev, ev["kind"] == K["ed"])
    n = e["member"].size
    if n == 0:
        return
    facility = np.where(e["facility"] >= 0, e["facility"], rng.integers(0, palette.HOSPITALS, n))
    level = _draw(rng, v, palette.ED_HCPCS, n)
    fac = (e["flags"] & PROFESSIONAL_ONLY) == 0
    f = np.flatnonzero(fac)
    with_hcpcs = rng.random(f.size) < palette.ED_FACILITY_HCPCS_SHARE
    blocks.append(
        _block(
            f.size,
            dx=e["dx"][f],
            member=e["member"][f],
            inst=True,
            tag=T["ed_facility"],
            start=e["day"][f],
            end=e["day"][f],
            bill=131,
            fac=HOSPITAL0 + facility[f],
            l1_rev=_draw(rng, v, palette.ED_FACILITY_FIRST_REVENUE, f.size),
            l1_hcpcs=np.where(with_hcpcs, level[f], -1),
            n_extra=rng.poisson(palette.EXTRA_LINES_MEAN["ed_facility"], f.size),
            pool=pools.id("ed_facility"),
            flags=e["flags"][f] & (PROTECT | VOID | CORRECT),
            fix_dx=e["fix_dx"][f],
        )
    )
    p = np.flatnonzero((e["flags"] & FACILITY_ONLY) == 0)
    blocks.append(
        _block(
            p.size,
            dx=e["dx"][p],
            member=e["member"][p],
            tag=T["ed_professional"],
            start=e["day"][p],
            end=e["day"][p],
            pos=POS_CODES.index("23"),
            rend=clinicians(p.size),
            l1_hcpcs=level[p],
            flags=e["flags"][p] & PROTECT,
        )
    )


def _stays(rng, ev: Events, v: Vocab, blocks: list[Claims], pools: LinePools) -> None:
    """Acute stays: one inpatient claim, or interim bills with contiguous dates."""
    e = take(ev, ev["kind"] == K["stay"])
    n = e["member"].size
    if n == 0:
        return
    los = np.maximum(e["los"], 0)
    discharge = e["day"] + los
    facility = np.where(e["facility"] >= 0, e["facility"], rng.integers(0, palette.HOSPITALS, n))
    stay_type = e["stay_type"]
    # interim billing: forced by a recipe, else some long base stays
    random_split = (
        ((e["flags"] & PROTECT) == 0)
        & (los >= palette.INTERIM_MIN_LOS)
        & (rng.random(n) < palette.INTERIM_SHARE)
    )
    parts = np.where(e["interim"] > 0, e["interim"], np.where(random_split, 2 + (los >= 20), 1))
    parts = np.minimum(parts, los + 1).astype(np.int64)
    stay = np.repeat(np.arange(n), parts)
    k = np.arange(stay.size) - np.repeat(np.cumsum(parts) - parts, parts)
    total = parts[stay]
    start = e["day"][stay] + (k * (los[stay] + 1)) // total
    end = np.where(
        k == total - 1, discharge[stay], e["day"][stay] + ((k + 1) * (los[stay] + 1)) // total - 1
    )
    last = k == total - 1
    first = k == 0
    bill = np.where(total == 1, 111, np.where(first, 112, np.where(last, 114, 113)))
    # room line by kind of stay
    room = e["room"][stay].copy()
    for st, table in (
        (STAY_DELIVERY, palette.OB_ROOM_REVENUE),
        (STAY_NEWBORN, palette.NURSERY_REVENUE),
        (STAY_PSYCH, (("0124", 1.0),)),
    ):
        mask = (room < 0) & (stay_type[stay] == st)
        room[mask] = _draw(rng, v, table, int(mask.sum()))
    mask = room < 0
    room[mask] = _draw(rng, v, palette.INPATIENT_ROOM_REVENUE, int(mask.sum()))
    pool = np.full(stay.size, pools.id("inpatient"), dtype=np.int8)
    pool[stay_type[stay] == STAY_DELIVERY] = pools.id("ob")
    pool[stay_type[stay] == STAY_NEWBORN] = pools.id("nursery")
    ed_line = ((e["flags"][stay] & ED_ON_INPATIENT) != 0) & first
    blocks.append(
        _block(
            stay.size,
            dx=e["dx"][stay],
            member=e["member"][stay],
            inst=True,
            tag=T["inpatient"],
            start=start,
            end=end,
            adm=e["day"][stay],
            dis=np.where(last, discharge[stay], NULL_DAY),
            atype=e["atype"][stay],
            asrc=e["asrc"][stay],
            disp=np.where(last, e["disp"][stay], DISPOSITION_CODES.index("30")),
            drg=e["drg"][stay],
            bill=bill,
            fac=HOSPITAL0 + facility[stay],
            l1_rev=room,
            l1_units=np.maximum(end - start, 1),
            l2_rev=np.where(ed_line, v.index("0450"), -1),
            l2_hcpcs=np.where(ed_line & (rng.random(stay.size) < 0.5), v.index("99284"), -1),
            n_extra=rng.poisson(palette.EXTRA_LINES_MEAN["inpatient"], stay.size),
            pool=pool,
            flags=e["flags"][stay] & (PROTECT | VOID | CORRECT),
            fix_dx=e["fix_dx"][stay],
            proc=np.where(first, e["proc"][stay], -1),
            poa=True,
        )
    )


def _stay_professionals(
    rng, ev: Events, v: Vocab, blocks: list[Claims], pools: LinePools, clinicians
) -> None:
    """The physicians' inpatient visits: one line a day for up to four days (a delivery:
    the delivery code; a newborn: newborn care)."""
    e = take(ev, ev["kind"] == K["stay"])
    n = e["member"].size
    if n == 0:
        return
    los = np.maximum(e["los"], 0)
    stay_type = e["stay_type"]
    lines = np.minimum(los + 1, 4)
    first_code = _draw(rng, v, palette.INPATIENT_PROFESSIONAL_FIRST, n)
    prof_pool = np.full(n, pools.id("ip_professional"), dtype=np.int8)
    delivery = stay_type == STAY_DELIVERY
    newborn = stay_type == STAY_NEWBORN
    principal = e["dx"][:, 0]
    vaginal = (
        np.array([v.codes[c].startswith("O80") for c in principal]) if n else np.zeros(0, bool)
    )
    delivery_code = np.where(
        vaginal,
        _draw(rng, v, tuple((c, 1.0) for c in palette.DELIVERY_PROFESSIONAL["O80"]), n),
        _draw(rng, v, tuple((c, 1.0) for c in palette.DELIVERY_PROFESSIONAL["O82"]), n),
    )
    first_code = np.where(delivery, delivery_code, np.where(newborn, v.index("99460"), first_code))
    lines = np.where(delivery, 1, np.where(newborn, np.minimum(lines, 2), lines))
    prof_pool[newborn] = pools.id("newborn_professional")
    tag = np.where(delivery, T["delivery_professional"], T["inpatient_professional"])
    blocks.append(
        _block(
            n,
            dx=e["dx"],
            member=e["member"],
            tag=tag,
            start=e["day"],
            end=e["day"] + lines - 1,
            pos=POS_CODES.index("21"),
            rend=clinicians(n),
            l1_hcpcs=first_code,
            n_extra=lines - 1,
            pool=prof_pool,
            step=1,
            flags=e["flags"] & PROTECT,
        )
    )


def _nursing(
    rng, ev: Events, v: Vocab, blocks: list[Claims], pools: LinePools, clinicians, anchors: Anchors
) -> None:
    """Nursing facility stays, billed per calendar month inside the history window."""
    e = take(ev, ev["kind"] == K["nf"])
    n = e["member"].size
    if n == 0:
        return
    w, end_day = to_day(anchors.window), to_day(anchors.end)
    ongoing = (e["flags"] & ONGOING) != 0
    discharge = np.where(ongoing, NULL_DAY, e["day"] + np.maximum(e["los"], 1))
    last_day = np.where(ongoing, end_day, np.minimum(discharge, end_day))
    first_day = np.maximum(e["day"], w)
    stay, start, end, is_last = _monthly_pieces(first_day, last_day)
    has_admission = start == e["day"][stay]
    discharged_here = is_last & ~ongoing[stay]
    frequency = _frequency(has_admission, discharged_here)
    base_bill = np.where(e["bill"][stay] > 0, e["bill"][stay], 211) // 10 * 10
    nf = (
        NF0
        + np.where(
            e["facility"][stay] >= 0,
            e["facility"][stay],
            rng.integers(0, palette.NURSING_FACILITIES, stay.size),
        )
        % palette.NURSING_FACILITIES
    )
    blocks.append(
        _block(
            stay.size,
            dx=e["dx"][stay],
            member=e["member"][stay],
            inst=True,
            tag=T["nf"],
            start=start,
            end=end,
            adm=e["day"][stay],
            dis=np.where(discharged_here, discharge[stay], NULL_DAY),
            atype=ADMIT_TYPE_CODES.index("3"),
            asrc=ADMIT_SOURCE_CODES.index("1"),
            disp=np.where(discharged_here, e["disp"][stay], DISPOSITION_CODES.index("30")),
            bill=base_bill + frequency,
            fac=nf,
            l1_rev=v.index("0100"),
            l1_units=end - start + 1,
            n_extra=rng.poisson(palette.EXTRA_LINES_MEAN["nf"], stay.size),
            pool=pools.id("nf"),
            flags=e["flags"][stay] & PROTECT,
        )
    )
    # a monthly physician visit in the facility, most months
    visit = rng.random(stay.size) < 0.5
    s = np.flatnonzero(visit)
    day = start[s] + np.floor(rng.random(s.size) * (end[s] - start[s] + 1)).astype(np.int32)
    blocks.append(
        _block(
            s.size,
            dx=e["dx"][stay[s]],
            member=e["member"][stay[s]],
            tag=T["office"],
            start=day,
            end=day,
            pos=POS_CODES.index("32"),
            rend=clinicians(s.size),
            l1_hcpcs=pools.draw(rng, "nf_professional", s.size)[1],
            flags=e["flags"][stay[s]] & PROTECT,
        )
    )


def _monthly_pieces(
    first_day: np.ndarray, last_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spans first_day .. last_day cut at calendar months, as a facility bills them (one
    claim a month); a span ending before it starts has none. Returns each piece's span
    index, start, end and whether it is its span's last."""
    idx = np.flatnonzero(last_day >= first_day)
    first_month = month_start_days(first_day[idx])
    last_month = month_start_days(last_day[idx])
    months = (
        last_month.astype("datetime64[D]").astype("datetime64[M]")
        - first_month.astype("datetime64[D]").astype("datetime64[M]")
    ).astype(np.int64) + 1
    span = np.repeat(idx, months)
    k = np.arange(span.size) - np.repeat(np.cumsum(months) - months, months)
    month = add_month_count(np.repeat(first_month, months), k)
    start = np.maximum(month, first_day[span])
    end = np.minimum(month_end_days(month), last_day[span])
    is_last = k == np.repeat(months, months) - 1
    return span, start, end, is_last


def _frequency(has_admission: np.ndarray, discharged_here: np.ndarray) -> np.ndarray:
    """The type of bill's frequency digit of a monthly claim: 1 admit through discharge,
    2 interim first, 3 interim continuing, 4 interim last."""
    return np.where(
        has_admission & discharged_here,
        1,
        np.where(has_admission, 2, np.where(discharged_here, 4, 3)),
    )


def hospice_claims(
    rng: np.random.Generator,
    member: np.ndarray,
    admission: np.ndarray,
    discharge: np.ndarray,
    anchors: Anchors,
    vocab: Vocab,
) -> Claims:
    """Hospice stays billed per calendar month inside the history window: institutional
    claims of bill type 81x (82x, hospital based, for some), revenue code 0651 (routine
    home care) for the days of the month, a terminal diagnosis. `discharge` NULL_DAY: still
    in hospice on the end date."""
    w, end_day = to_day(anchors.window), to_day(anchors.end)
    ongoing = discharge == NULL_DAY
    last_day = np.where(ongoing, end_day, np.minimum(discharge, end_day))
    first_day = np.maximum(admission, w)
    span, start, end, is_last = _monthly_pieces(first_day, last_day)
    frequency = _frequency(start == admission[span], is_last & ~ongoing[span])
    hospital_based = rng.random(member.size) < palette.HOSPICE_HOSPITAL_BASED_SHARE
    base_bill = np.where(hospital_based, 820, 810)[span]
    dx = np.full((span.size, DX_WIDTH), -1, dtype=np.int32)
    dx[:, 0] = _draw(rng, vocab, palette.HOSPICE_DX, member.size)[span]
    return _block(
        span.size,
        dx=dx,
        member=member[span],
        inst=True,
        tag=T["hospice"],
        start=start,
        end=end,
        adm=admission[span],
        dis=np.where(is_last & ~ongoing[span], discharge[span], NULL_DAY),
        atype=ADMIT_TYPE_CODES.index("3"),
        asrc=ADMIT_SOURCE_CODES.index("1"),
        disp=np.where(
            is_last & ~ongoing[span],
            DISPOSITION_CODES.index("01"),
            DISPOSITION_CODES.index("30"),
        ),
        bill=base_bill + frequency,
        fac=HOSPICE0 + (member[span] % palette.HOSPICES),
        l1_rev=vocab.index("0651"),
        l1_units=end - start + 1,
        flags=PROTECT,
    )


# --- versions, files, lines --------------------------------------------------------------


def finalize(
    rng: np.random.Generator,
    claims: Claims,
    chunk: int,
    anchors: Anchors,
    pal: Palette,
    pools: LinePools,
) -> tuple[Claims, dict[str, np.ndarray]]:
    """Order and number the claims, draw their source, formats and file dates, add the
    re-delivered versions, and expand lines. Returns (claims, lines)."""
    n = claims["member"].size
    order = np.lexsort((claims["tag"], claims["member"], claims["start"]))
    claims = {k: v[order] for k, v in claims.items()}
    claims["seq"] = np.arange(n, dtype=np.int64)
    claims["claim_num"] = (chunk + 1) * 1_000_000_000 + claims["seq"] + 1
    claims["source"] = pick(rng, palette.CLAIM_SOURCES, n).astype(np.int8)
    claims["dotted"] = rng.random(n) < palette.DOTTED_DX_SHARE
    claims["short_rev"] = claims["inst"] & (rng.random(n) < palette.THREE_DIGIT_REVENUE_SHARE)
    claims["bill4"] = claims["inst"] & (rng.random(n) < palette.FOUR_DIGIT_BILL_TYPE_SHARE)
    max_file = int(
        add_month_count(month_start_days(np.array([to_day(anchors.end)], dtype=np.int32)), 1)[0]
    )
    lag = np.array([lag for lag, _ in palette.FILE_LAG_MONTHS])[
        pick(rng, palette.FILE_LAG_MONTHS, n)
    ]
    lag = np.where((claims["flags"] & PROTECT) != 0, 0, lag)
    file_date = add_month_count(month_start_days(claims["end"]), 1 + lag)
    claims["file_date"] = np.minimum(file_date, max_file).astype(np.int32)
    claims["version"] = np.zeros(n, dtype=np.int8)  # 0 original, 7 corrected, 8 voided
    lines = _lines(rng, claims, pools)
    return _redeliver(rng, claims, lines, max_file, pal)


def _lines(rng: np.random.Generator, c: Claims, pools: LinePools) -> dict[str, np.ndarray]:
    has2 = (c["l2_rev"] >= 0) | (c["l2_hcpcs"] >= 0)
    count = 1 + has2.astype(np.int32) + c["n_extra"]
    claim = np.repeat(np.arange(count.size), count)
    offset = np.cumsum(count) - count
    line_no = (np.arange(claim.size) - offset[claim] + 1).astype(np.int32)
    first = line_no == 1
    second = has2[claim] & (line_no == 2)
    rev = np.where(first, c["l1_rev"][claim], np.where(second, c["l2_rev"][claim], -1)).astype(
        np.int32
    )
    hcpcs = np.where(
        first, c["l1_hcpcs"][claim], np.where(second, c["l2_hcpcs"][claim], -1)
    ).astype(np.int32)
    extra = ~first & ~second
    pool = c["pool"][claim]
    for pid in np.unique(pool[extra]):
        if pid < 0:
            continue
        mask = extra & (pool == pid)
        which = rng.choice(pools.p[pid].size, size=int(mask.sum()), p=pools.p[pid])
        rev[mask] = pools.rev[pid][which]
        hcpcs[mask] = pools.hcpcs[pid][which]
    units = np.where(first, c["l1_units"][claim], 1).astype(np.int32)
    step = c["step"][claim].astype(np.int32)
    line_start = (c["start"][claim] + step * (line_no - 1)).astype(np.int32)
    inst = c["inst"][claim]
    line_end = np.where(inst, c["end"][claim], line_start).astype(np.int32)
    line_start = np.where(inst, c["start"][claim], line_start).astype(np.int32)
    median = np.array([palette.PAID_MEDIAN[t] for t in TAGS])[c["tag"][claim]]
    per_unit = np.where(first & inst, units, 1)
    paid = np.round(
        median
        * np.exp(rng.normal(0.0, 0.6, claim.size))
        * per_unit
        / np.where(inst & ~first, 3.0, 1.0),
        2,
    )
    return {
        "claim": claim.astype(np.int64),
        "line": line_no,
        "rev": rev,
        "hcpcs": hcpcs,
        "units": units,
        "line_start": line_start,
        "line_end": line_end,
        "paid": paid,
    }


def _redeliver(
    rng: np.random.Generator, c: Claims, lines: dict[str, np.ndarray], max_file: int, pal: Palette
) -> tuple[Claims, dict[str, np.ndarray]]:
    """Institutional claims delivered again in a later file: corrected (frequency 7, another
    first diagnosis) or voided (frequency 8). Persona claims only when their recipe says."""
    n = c["member"].size
    later = c["file_date"] < max_file
    protected = (c["flags"] & PROTECT) != 0
    draw = rng.random(n)
    base = c["inst"] & ~protected & later
    voided = (base & (draw < palette.VOIDED_SHARE)) | (later & ((c["flags"] & VOID) != 0))
    corrected = (
        base
        & (draw >= palette.VOIDED_SHARE)
        & (draw < palette.VOIDED_SHARE + palette.CORRECTED_SHARE)
    ) | (later & ((c["flags"] & CORRECT) != 0))
    corrected &= ~voided
    sel = np.flatnonzero(voided | corrected)
    copies = {k: v[sel].copy() for k, v in c.items()}
    months = rng.integers(1, 4, sel.size)
    copies["file_date"] = np.minimum(add_month_count(copies["file_date"], months), max_file).astype(
        np.int32
    )
    is_void = voided[sel]
    copies["version"] = np.where(is_void, 8, 7).astype(np.int8)
    copies["bill"] = (copies["bill"] // 10 * 10 + np.where(is_void, 8, 7)).astype(np.int16)
    # a corrected claim: the recipe's diagnosis, else another plausible first diagnosis
    dx = copies["dx"]
    ed = copies["tag"] == T["ed_facility"]
    new_first = np.where(
        copies["fix_dx"] >= 0,
        copies["fix_dx"],
        np.where(
            ed,
            pal.ed_dx[rng.choice(pal.ed_dx.size, size=sel.size, p=pal.ed_w)],
            np.where(
                dx[:, 1] >= 0,
                dx[:, 1],
                pal.office_dx[rng.integers(0, pal.office_dx.size, sel.size)],
            ),
        ),
    )
    swap = ~is_void & ~ed & (copies["fix_dx"] < 0) & (dx[:, 1] >= 0)
    dx_new = dx.copy()
    dx_new[:, 0] = np.where(is_void, dx[:, 0], new_first)
    dx_new[swap, 1] = dx[swap, 0]
    copies["dx"] = dx_new
    # the copies' lines: the originals' lines, voids with negative amounts
    count = np.bincount(lines["claim"], minlength=n)
    offset = np.cumsum(count) - count
    per = count[sel]
    src = np.repeat(offset[sel], per) + (
        np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    )
    new_lines = {k: v[src].copy() for k, v in lines.items()}
    new_lines["claim"] = n + np.repeat(np.arange(sel.size), per)
    new_lines["paid"] = np.where(np.repeat(is_void, per), -new_lines["paid"], new_lines["paid"])
    all_claims = {k: np.concatenate([c[k], copies[k]]) for k in c}
    all_lines = {k: np.concatenate([lines[k], new_lines[k]]) for k in lines}
    return all_claims, all_lines


# --- rendering ---------------------------------------------------------------------------


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.ma.masked_array(days, days == NULL_DAY), dtype=pl.Int32).cast(pl.Date)


def where_text(mask: np.ndarray, value: str) -> pl.Series:
    """`value` where mask, else null."""
    return pl.select(
        pl.when(pl.lit(pl.Series(mask, dtype=pl.Boolean))).then(pl.lit(value))
    ).to_series()


def _small(values: tuple[str, ...], idx: np.ndarray) -> pl.Series:
    """Codes from a short tuple whose first entry "" means empty."""
    return pl.Series([v or None for v in values], dtype=pl.String).gather(
        pl.Series(idx.astype(np.int64))
    )


class Renderer:
    """Writes batches of claim lines as the medical_claim columns."""

    def __init__(self, vocab: Vocab, first_member: int) -> None:
        self.plain = vocab.series("plain")
        self.dotted = vocab.series("dotted")
        self.short = vocab.series("short")
        # The claims' NPI pool, then the ECM providers' (office_renderer).
        self.npis = pl.Series([*NPIS, *ECM_PROVIDER_NPIS], dtype=pl.String)
        self.first_member = first_member

    def render(self, c: Claims, lines: dict[str, np.ndarray], rows: np.ndarray) -> pl.DataFrame:
        """The lines `rows` in the medical_claim contract's columns and order (unused
        columns all null)."""
        ci = lines["claim"][rows]

        def claim(name: str) -> np.ndarray:
            return c[name][ci]

        cols: dict[str, pl.Series] = {
            **self._identity(claim, lines, rows),
            **self._codes(claim, lines, rows),
            **self._providers_and_amounts(claim, lines, rows),
            **self._diagnoses(c["dx"][ci], claim),
            **self._delivery(claim),
        }
        frame = pl.DataFrame({name: series.alias(name) for name, series in cols.items()})
        columns = load_contract("medical_claim").columns
        return frame.with_columns(
            pl.lit(None).alias(name) for name in columns if name not in cols
        ).select(columns)

    def _identity(
        self, claim, lines: dict[str, np.ndarray], rows: np.ndarray
    ) -> dict[str, pl.Series]:
        member = pl.Series(claim("member").astype(np.int64) + self.first_member)
        ids = pl.select(member_ids(pl.lit(member))).to_series()
        kinds = pl.Series(["professional", "institutional"], dtype=pl.String)
        return {
            "claim_id": pl.Series(claim("claim_num")).cast(pl.String),
            "claim_line_number": pl.Series(lines["line"][rows], dtype=pl.Int32),
            "claim_type": kinds.gather(pl.Series(claim("inst").astype(np.int64))),
            "person_id": ids,
            "member_id": ids,
            "payer": pl.repeat(palette.PAYER, rows.size, eager=True),
            "plan": pl.repeat(palette.PLAN, rows.size, eager=True),
            "claim_start_date": _dates(claim("start")),
            "claim_end_date": _dates(claim("end")),
            "claim_line_start_date": _dates(lines["line_start"][rows]),
            "claim_line_end_date": _dates(lines["line_end"][rows]),
            "admission_date": _dates(claim("adm")),
            "discharge_date": _dates(claim("dis")),
        }

    def _codes(self, claim, lines: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, pl.Series]:
        pos = claim("pos")
        bill = claim("bill").astype(np.int64)
        bill_text = pl.Series(np.ma.masked_array(bill, bill == 0)).cast(pl.String)
        four_digits = pl.lit(pl.Series(claim("bill4")))
        rev = lines["rev"][rows]
        short = pl.lit(pl.Series(claim("short_rev")))
        drg = claim("drg")
        return {
            "admit_source_code": _small(ADMIT_SOURCE_CODES, claim("asrc")),
            "admit_type_code": _small(ADMIT_TYPE_CODES, claim("atype")),
            "discharge_disposition_code": _small(DISPOSITION_CODES, claim("disp")),
            "place_of_service_code": pl.Series(POS_CODES, dtype=pl.String).gather(
                pl.Series(np.ma.masked_array(pos.astype(np.int64), pos < 0))
            ),
            "bill_type_code": pl.select(
                pl.when(four_digits)
                .then(pl.lit("0") + pl.lit(bill_text))
                .otherwise(pl.lit(bill_text))
            ).to_series(),
            "drg_code_type": where_text(drg >= 0, "ms-drg"),
            "drg_code": gather(self.plain, drg),
            "revenue_center_code": pl.select(
                pl.when(short)
                .then(pl.lit(gather(self.short, rev)))
                .otherwise(pl.lit(gather(self.plain, rev)))
            ).to_series(),
            "service_unit_quantity": pl.Series(lines["units"][rows], dtype=pl.Int32),
            "hcpcs_code": gather(self.plain, lines["hcpcs"][rows]),
        }

    def _providers_and_amounts(
        self, claim, lines: dict[str, np.ndarray], rows: np.ndarray
    ) -> dict[str, pl.Series]:
        inst = claim("inst")
        ecm = office_renderer(
            claim("member").astype(np.int64) + self.first_member, claim("tag"), inst
        )
        rend = np.where(ecm >= 0, len(NPIS) + ecm, claim("rend"))
        fac = claim("fac")
        file_date = claim("file_date")
        paid_date = np.minimum(np.maximum(claim("end"), file_date - 10), file_date)
        paid = lines["paid"][rows]
        return {
            "rendering_npi": gather(self.npis, rend),
            "billing_npi": gather(self.npis, np.where(inst, fac, rend)),
            "facility_npi": gather(self.npis, np.where(inst, fac, -1)),
            "paid_date": _dates(paid_date.astype(np.int32)),
            "paid_amount": pl.Series(paid, dtype=pl.Float64),
            "allowed_amount": pl.Series(paid, dtype=pl.Float64),
            "charge_amount": pl.Series(np.round(paid * 2.5, 2), dtype=pl.Float64),
        }

    def _diagnoses(self, dx: np.ndarray, claim) -> dict[str, pl.Series]:
        dotted = pl.lit(pl.Series(claim("dotted")))
        poa = claim("poa")
        proc = claim("proc")
        cols = {
            "diagnosis_code_type": pl.repeat(palette.DIAGNOSIS_CODE_TYPE, dx.shape[0], eager=True)
        }
        for j in range(DX_WIDTH):
            codes = dx[:, j]
            cols[f"diagnosis_code_{j + 1}"] = pl.select(
                pl.when(dotted)
                .then(pl.lit(gather(self.dotted, codes)))
                .otherwise(pl.lit(gather(self.plain, codes)))
            ).to_series()
            cols[f"diagnosis_poa_{j + 1}"] = where_text(poa & (codes >= 0), "Y")
        cols["procedure_code_type"] = where_text(proc >= 0, palette.PROCEDURE_CODE_TYPE)
        cols["procedure_code_1"] = gather(self.plain, proc)
        cols["procedure_date_1"] = _dates(
            np.where(proc >= 0, claim("adm"), NULL_DAY).astype(np.int32)
        )
        return cols

    def _delivery(self, claim) -> dict[str, pl.Series]:
        file_days = _dates(claim("file_date"))
        sources = pl.Series(SOURCES, dtype=pl.String)
        return {
            "in_network_flag": pl.repeat(1, file_days.len(), eager=True, dtype=pl.Int32),
            "data_source": sources.gather(pl.Series(claim("source").astype(np.int64))),
            "file_name": pl.select(
                pl.format("medical_claim_{}.csv", pl.lit(file_days).dt.strftime("%Y-%m"))
            ).to_series(),
            "file_date": file_days,
        }
