"""Persona recipes: members planted on purpose, one recipe per population rule and per
near miss of it, so every population of populations.md has members and every boundary
is exercised.

A recipe is data: its roles (one member each; a household when there are several, the
first role is the subscriber), and for each role the claims and partner-feed rows that
make it a member of one population (`qualifies=True`) or a near miss of it
(`qualifies=False`). Dates are day expressions (calendar.resolve): `D` the end date, `L`
the first day of the 12-month lookback, `L24` of the 24-month one, `B` the member's birth
date; `L-1d` is the day before the lookback.

A persona member has no random utilisation that could touch a rule: besides its recipe it
gets only screening lab claims (Z00.00 / Z00.129) and pharmacy fills, and no base
partner-feed rows. Its data source and code formats (dotted or not, 3- or 4-digit revenue
codes and bill types) are drawn like everyone else's; its claims arrive the month after
service (no late arrivals, so a recipe's void or correction always has a later file).

`members.planted_personas` lists who was planted (member_id, recipe, role, population,
qualifies): tests and end-to-end checks read the plan, not the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecm.generate.calendar import Anchors, resolve

# Instances of each recipe per member generated (at least one per chunk while they fit),
# and the largest share of a chunk's members that may be personas.
PERSONA_SHARE_PER_RECIPE = 0.0004
MAX_PERSONA_SHARE = 0.25


@dataclass(frozen=True)
class Claim:
    """One planted event, built into claims like any other event of its kind."""

    kind: str  # office, preventive, lab, ed, urgent, crisis, stay, nf, prenatal
    at: str  # day expression of the service (admission) date
    dx: tuple[str, ...] = ()  # normalised ICD-10-CM, principal/primary first
    los: int = 0  # stays: days from admission to discharge
    admit_type: str = "1"
    admit_source: str = ""
    disposition: str = "01"
    drg: str = ""
    hcpcs: str = ""  # the first line's HCPCS/CPT (E/M, crisis code) when not drawn
    extra_hcpcs: str = ""  # a second line's code (G9919 on a preventive visit)
    room: str = ""  # the room revenue code of a stay (0114 psychiatric, 0171 nursery)
    bill_type: str = ""  # nf: 211 or 181
    procedure: str = ""  # ICD-10-PCS of a stay
    facility: int = 0  # which hospital of the persona's two (transfers use 1)
    facility_only: bool = False  # an ED visit without its professional claim
    voided: bool = False  # delivered again later as a void (frequency 8)
    corrected_dx: str = ""  # delivered again later with this first diagnosis (frequency 7)
    interim: int = 0  # a stay billed as this many interim claims (112, 113, 114)
    ongoing: bool = False  # nf: still in the facility at the end date


@dataclass(frozen=True)
class Row:
    """One partner-feed row; date columns hold day expressions."""

    feed: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class Role:
    """One member of a recipe and the population it exercises."""

    population: str | None
    qualifies: bool
    age: tuple[int, int] = (21, 64)  # completed years at D, inclusive
    birth: str = ""  # a day expression instead of an age range
    sex: str = ""  # 'female' / 'male'; empty = drawn
    race: str = ""  # empty = drawn from the plan's mix
    enrolled_until: str = ""  # enrollment end (day expression); empty = open
    died: str = ""  # death date (day expression)
    claims: tuple[Claim, ...] = ()
    rows: tuple[Row, ...] = ()


@dataclass(frozen=True)
class Persona:
    note: str
    roles: tuple[Role, ...] = field(default_factory=tuple)


# --- helpers that keep the table short ------------------------------------------------


def ed(at: str, *dx: str, **kw) -> Claim:
    return Claim("ed", at, dx, **kw)


def office(at: str, *dx: str, **kw) -> Claim:
    return Claim("office", at, dx, **kw)


def preventive_ace(at: str, *dx: str) -> Claim:
    """A preventive visit with a positive ACE screening (G9919): a complex social factor."""
    return Claim("preventive", at, dx, extra_hcpcs="G9919")


def urgent(at: str, *dx: str) -> Claim:
    return Claim("urgent", at, dx)


def crisis(at: str, code: str, *dx: str) -> Claim:
    return Claim("crisis", at, dx, hcpcs=code)


def stay(at: str, los: int, *dx: str, **kw) -> Claim:
    return Claim("stay", at, dx, los=los, **kw)


def nf_stay(at: str, los: int, disposition: str, *dx: str, **kw) -> Claim:
    return Claim("nf", at, dx or ("R2689", "I10"), los=los, disposition=disposition, **kw)


def prenatal(at: str, *dx: str) -> Claim:
    return Claim("prenatal", at, dx)


def custody(facility: str, booking: str, release: str, source: str = "county sheriff") -> Row:
    return Row(
        "incarceration",
        {
            "facility_type": facility,
            "booking_date": booking,
            "release_date": release,
            "source": source,
        },
    )


def welfare(status: str, start: str, end: str = "") -> Row:
    return Row("child_welfare", {"status": status, "start_date": start, "end_date": end})


def ccs(program: str, start: str, end: str, condition: str) -> Row:
    return Row(
        "ccs_enrollment",
        {"program": program, "start_date": start, "end_date": end, "eligible_condition": condition},
    )


def homeless(entry: str, exit_: str = "", project: str = "emergency shelter") -> Row:
    return Row(
        "homelessness",
        {
            "project_type": project,
            "living_situation": "emergency shelter"
            if project == "emergency shelter"
            else "place not meant for habitation",
            "entry_date": entry,
            "exit_date": exit_,
            "source": "HMIS",
        },
    )


def assessment(at: str, residence: str, snf: str, lower: str, interested: str, able: str) -> Row:
    return Row(
        "nursing_facility_assessment",
        {
            "assessment_date": at,
            "residence_setting": residence,
            "meets_snf_level_of_care": snf,
            "needs_lower_acuity_skilled_nursing": lower,
            "interested_in_community_transition": interested,
            "able_to_reside_in_community": able,
        },
    )


def adult(
    population: str | None, qualifies: bool, *claims: Claim, rows: tuple[Row, ...] = (), **kw
) -> Role:
    return Role(population, qualifies, claims=claims, rows=rows, **kw)


def child(
    population: str | None,
    qualifies: bool,
    *claims: Claim,
    rows: tuple[Row, ...] = (),
    age=(3, 17),
    **kw,
) -> Role:
    return Role(population, qualifies, age=age, claims=claims, rows=rows, **kw)


FIVE_AVOIDABLE = (
    ed("L", "J069"),
    ed("L+60d", "N390"),
    ed("L+150d", "R519"),
    ed("L+240d", "M5450"),
    ed("D", "J069"),
)
THREE_AVOIDABLE = (ed("L+20d", "H6690"), ed("L+130d", "J069"), ed("D-15d", "R509"))
COMMUNITY_OK = ("community", "Y", "N", "N", "Y")

# --- the recipes ----------------------------------------------------------------------

PERSONAS: dict[str, Persona] = {
    # HOMELESS_ADULT ---------------------------------------------------------------
    "homeless_adult_hmis": Persona(
        "HMIS entry open through D, diabetes and hypertension in the lookback",
        (
            adult(
                "HOMELESS_ADULT",
                True,
                office("D-40d", "E119", "I10"),
                rows=(homeless("L-60d"),),
                age=(30, 64),
            ),
        ),
    ),
    "homeless_adult_dx_ed": Persona(
        "Z59.02 in a secondary position on an ED visit (the ED visit is the complex need)",
        (adult("HOMELESS_ADULT", True, ed("D-90d", "M5450", "Z5902")),),
    ),
    "homeless_adult_no_need": Persona(
        "near miss: HMIS span inside the lookback, no complex need",
        (adult("HOMELESS_ADULT", False, rows=(homeless("L+30d", "L+90d", "street outreach"),)),),
    ),
    "homeless_adult_exit_before_lookback": Persona(
        "near miss: HMIS exit the day before the lookback; hypertension in it",
        (
            adult(
                "HOMELESS_ADULT", False, office("L+50d", "I10"), rows=(homeless("L-200d", "L-1d"),)
            ),
        ),
    ),
    # HOMELESS_FAMILY --------------------------------------------------------------
    "homeless_family": Persona(
        "a child with Z59.01 in second position: the whole enrolled household; "
        "an older sibling disenrolled the day before D is not",
        (
            adult("HOMELESS_FAMILY", True, age=(25, 45), sex="female"),
            child(
                "HOMELESS_FAMILY",
                True,
                Claim("preventive", "D-60d", ("Z00129", "Z5901")),
                age=(4, 10),
            ),
            child("HOMELESS_FAMILY", True, age=(0, 3)),
            child("HOMELESS_FAMILY", False, age=(14, 19), enrolled_until="D-1d"),
        ),
    ),
    "homeless_family_index_lapsed": Persona(
        "a child with Z59.01 whose enrolment ended before D: the enrolled household "
        "qualifies, the child (not enrolled on D) is not assigned",
        (
            adult("HOMELESS_FAMILY", True, age=(25, 45), sex="female"),
            child(
                "HOMELESS_FAMILY",
                False,
                Claim("preventive", "L+30d", ("Z00129", "Z5901")),
                age=(6, 12),
                enrolled_until="D-90d",
            ),
            child("HOMELESS_FAMILY", True, age=(1, 5)),
        ),
    ),
    "homeless_family_parent_only": Persona(
        "near miss: only the parent has homelessness evidence (and no complex need)",
        (
            adult("HOMELESS_FAMILY", False, rows=(homeless("L+10d"),), age=(25, 45)),
            child("HOMELESS_FAMILY", False, age=(5, 12)),
        ),
    ),
    "homeless_family_index_turns_21": Persona(
        "near miss: the member with homelessness evidence turns 21 on D (an adult)",
        (
            adult("HOMELESS_FAMILY", False, age=(42, 55)),
            Role("HOMELESS_FAMILY", False, birth="D-21y", rows=(homeless("L+40d"),)),
            child("HOMELESS_FAMILY", False, age=(10, 15)),
        ),
    ),
    # HIGH_UTIL_ADULT --------------------------------------------------------------
    "high_util_adult_ed5": Persona(
        "5 avoidable ED visits, the first on L and the last on D "
        "(one coded R51.9, newer than the NYU table)",
        (adult("HIGH_UTIL_ADULT", True, *FIVE_AVOIDABLE),),
    ),
    "high_util_adult_stays3": Persona(
        "3 unplanned stays: admit types 1, 2 and blank",
        (
            adult(
                "HIGH_UTIL_ADULT",
                True,
                stay("L+20d", 3, "J189", drg="195"),
                stay("L+120d", 4, "J441", drg="192", admit_type="2"),
                stay("D-30d", 2, "I509", drg="293", admit_type=""),
            ),
        ),
    ),
    "high_util_adult_interim": Persona(
        "3 unplanned stays, one billed as three interim claims (112, 113, 114)",
        (
            adult(
                "HIGH_UTIL_ADULT",
                True,
                stay("L+10d", 24, "A419", drg="872", interim=3),
                stay("L+100d", 3, "N390", drg="690", admit_type="5"),
                stay("D-60d", 3, "L03115", drg="603"),
            ),
        ),
    ),
    "high_util_adult_ed_corrected": Persona(
        "5 avoidable ED visits; one first delivered as F32.9, then corrected to J06.9",
        (
            adult(
                "HIGH_UTIL_ADULT",
                True,
                *FIVE_AVOIDABLE[:2],
                ed("L+150d", "F329", facility_only=True, corrected_dx="J069"),
                *FIVE_AVOIDABLE[3:],
            ),
        ),
    ),
    "high_util_adult_ed4": Persona(
        "near miss: exactly 4 avoidable ED visits (and one injury visit)",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                *FIVE_AVOIDABLE[:2],
                ed("L+100d", "S93401A"),
                *FIVE_AVOIDABLE[3:],
            ),
        ),
    ),
    "high_util_adult_ed_before_lookback": Persona(
        "near miss: 5 avoidable ED visits, the first the day before the lookback",
        (adult("HIGH_UTIL_ADULT", False, ed("L-1d", "J069"), *FIVE_AVOIDABLE[1:]),),
    ),
    "high_util_adult_ed_admitted": Persona(
        "near miss: 5 avoidable ED visits, one followed by an admission the next day",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                *FIVE_AVOIDABLE,
                stay("L+241d", 3, "J189", drg="195", admit_source="7"),
            ),
        ),
    ),
    "high_util_adult_ed_voided": Persona(
        "near miss: 5 avoidable ED visits delivered, one voided in a later file",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                *FIVE_AVOIDABLE[:2],
                ed("L+150d", "J069", facility_only=True, voided=True),
                *FIVE_AVOIDABLE[3:],
            ),
        ),
    ),
    "high_util_adult_ed_corrected_away": Persona(
        "near miss: 5 avoidable ED visits delivered, one corrected to an injury",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                *FIVE_AVOIDABLE[:2],
                ed("L+150d", "J069", facility_only=True, corrected_dx="S0990XA"),
                *FIVE_AVOIDABLE[3:],
            ),
        ),
    ),
    "high_util_adult_stays_planned": Persona(
        "near miss: 2 unplanned stays and 1 elective (admit type 3)",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                stay("L+20d", 3, "J189", drg="195"),
                stay("L+120d", 4, "K3580", drg="343", admit_type="3"),
                stay("D-30d", 2, "I509", drg="293", admit_type="5"),
            ),
        ),
    ),
    "high_util_adult_transfer": Persona(
        "near miss: 3 unplanned stay claims, two of them a transfer (one stay)",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                stay("L+30d", 4, "I214", drg="282", disposition="02"),
                stay("L+34d", 5, "I214", drg="282", admit_source="4", facility=1),
                stay("D-60d", 3, "J189", drg="195"),
            ),
        ),
    ),
    "high_util_adult_died": Persona(
        "near miss: 5 avoidable ED visits, died before D",
        (adult("HIGH_UTIL_ADULT", False, *FIVE_AVOIDABLE[:4], ed("D-10d", "J069"), died="D-5d"),),
    ),
    "high_util_adult_disenrolled": Persona(
        "near miss: 5 avoidable ED visits, enrollment ended the day before D",
        (
            adult(
                "HIGH_UTIL_ADULT",
                False,
                *FIVE_AVOIDABLE[:4],
                ed("D-2d", "J069"),
                enrolled_until="D-1d",
            ),
        ),
    ),
    # HIGH_UTIL_CHILD --------------------------------------------------------------
    "high_util_child_ed3": Persona(
        "3 avoidable ED visits",
        (child("HIGH_UTIL_CHILD", True, *THREE_AVOIDABLE, age=(2, 15)),),
    ),
    "high_util_child_stays2": Persona(
        "2 unplanned stays: admit type 1, and admit type 9 (read as empty)",
        (
            child(
                "HIGH_UTIL_CHILD",
                True,
                stay("L+40d", 2, "J45901", drg="203"),
                stay("D-50d", 3, "J189", drg="195", admit_type="9"),
                age=(1, 17),
            ),
        ),
    ),
    "high_util_child_turns_21_tomorrow": Persona(
        "3 avoidable ED visits; turns 21 the day after D (still a child)",
        (Role("HIGH_UTIL_CHILD", True, birth="D+1d-21y", claims=THREE_AVOIDABLE),),
    ),
    "high_util_child_ed2": Persona(
        "near miss: exactly 2 avoidable ED visits (and one injury visit)",
        (
            child(
                "HIGH_UTIL_CHILD", False, *THREE_AVOIDABLE[:2], ed("D-15d", "S0990XA"), age=(2, 15)
            ),
        ),
    ),
    "high_util_child_newborn": Persona(
        "near miss: a newborn stay (admit type 4) and one unplanned stay",
        (
            Role(
                "HIGH_UTIL_CHILD",
                False,
                birth="L+20d",
                claims=(
                    stay("B", 2, "Z3800", drg="795", admit_type="4", room="0171"),
                    stay("B+60d", 3, "J219", drg="203"),
                ),
            ),
        ),
    ),
    "high_util_turns_21_on_end": Persona(
        "near miss: 3 avoidable ED visits but turns 21 on D (an adult)",
        (Role("HIGH_UTIL_CHILD", False, birth="D-21y", claims=THREE_AVOIDABLE),),
    ),
    # SMI_SUD_ADULT ----------------------------------------------------------------
    "smi_adult_overdose": Persona(
        "schizophrenia, unemployment (Z56.0), an opioid overdose ED visit",
        (
            adult(
                "SMI_SUD_ADULT",
                True,
                office("D-100d", "F200", "Z560"),
                ed("D-50d", "T401X1A", "F1120"),
            ),
        ),
    ),
    "smi_adult_psych_stay": Persona(
        "bipolar disorder, a positive ACE screening, a psychiatric stay (revenue 0114)",
        (
            adult(
                "SMI_SUD_ADULT",
                True,
                office("L+30d", "F319"),
                preventive_ace("L+60d", "Z0000"),
                stay("D-80d", 6, "F319", drg="885", room="0114"),
            ),
        ),
    ),
    "sud_adult_crisis": Persona(
        "opioid dependence, Z63.0, one crisis service (H2011)",
        (
            adult(
                "SMI_SUD_ADULT",
                True,
                office("L+45d", "F1120", "Z630"),
                crisis("D-20d", "H2011", "F1120"),
            ),
        ),
    ),
    "smi_adult_acute_outnumber": Persona(
        "depression, Z65.0; 2 ED visits and an urgent care visit against 1 office visit",
        (
            adult(
                "SMI_SUD_ADULT",
                True,
                office("L+10d", "F329", "Z650"),
                ed("L+90d", "S0990XA"),
                ed("L+200d", "J069"),
                urgent("D-30d", "J029"),
            ),
        ),
    ),
    "smi_adult_mh_ed2": Persona(
        "borderline personality, food insecurity; 2 ED visits with a MH/SUD primary dx",
        (
            adult(
                "SMI_SUD_ADULT",
                True,
                office("L+20d", "F603", "Z5941"),
                ed("L+100d", "F1020"),
                ed("D-15d", "F411"),
            ),
        ),
    ),
    "smi_adult_no_csf": Persona(
        "near miss: schizophrenia and an overdose, no complex social factor",
        (adult("SMI_SUD_ADULT", False, office("L+20d", "F200"), ed("D-60d", "T401X1A", "F200")),),
    ),
    "smi_adult_anxiety_only": Persona(
        "near miss: anxiety (F41.1, not SMI), Z56.0 and an overdose",
        (adult("SMI_SUD_ADULT", False, office("L+20d", "F411", "Z560"), ed("D-60d", "T424X1A")),),
    ),
    "smi_adult_office_tie": Persona(
        "near miss: depression, Z56.0; 2 ED visits (not MH) against 2 office visits",
        (
            adult(
                "SMI_SUD_ADULT",
                False,
                office("L+10d", "F329", "Z560"),
                office("L+150d", "F329"),
                ed("L+60d", "J069"),
                ed("D-20d", "M5450"),
            ),
        ),
    ),
    # SMI_SUD_CHILD ----------------------------------------------------------------
    "mh_child_two_dates": Persona(
        "MH dx on 2 distinct dates (F32.9, F43.10)",
        (
            child(
                "SMI_SUD_CHILD",
                True,
                office("L+30d", "F329"),
                office("D-40d", "F4310"),
                age=(12, 19),
            ),
        ),
    ),
    "sud_child_ed": Persona(
        "one ED visit with an alcohol dependence primary dx",
        (child("SMI_SUD_CHILD", True, ed("D-70d", "F1020"), age=(14, 20)),),
    ),
    "mh_child_one_date": Persona(
        "near miss: ADHD coded on two claims of one date",
        (
            child(
                "SMI_SUD_CHILD",
                False,
                office("L+50d", "F909"),
                Claim("lab", "L+50d", ("F909",)),
                age=(6, 15),
            ),
        ),
    ),
    "mh_child_nicotine": Persona(
        "near miss: nicotine dependence (F17, excluded) on 3 dates",
        (
            child(
                "SMI_SUD_CHILD",
                False,
                office("L+30d", "F17210"),
                office("L+120d", "F17210"),
                office("D-30d", "F17210"),
                age=(15, 20),
            ),
        ),
    ),
    # JUSTICE_ADULT ----------------------------------------------------------------
    "justice_adult_jail": Persona(
        "released from county jail in the lookback; hypertension",
        (
            adult(
                "JUSTICE_ADULT",
                True,
                office("D-30d", "I10"),
                rows=(custody("county_jail", "D-120d", "D-60d"),),
            ),
        ),
    ),
    "justice_adult_prison_sud": Persona(
        "released from state prison on L; opioid dependence 18 months before D",
        (
            adult(
                "JUSTICE_ADULT",
                True,
                office("D-18m", "F1120"),
                rows=(custody("state_prison", "L24-400d", "L", "CDCR"),),
            ),
        ),
    ),
    "justice_adult_release_before": Persona(
        "near miss: released the day before the lookback; schizophrenia",
        (
            adult(
                "JUSTICE_ADULT",
                False,
                office("L+10d", "F200"),
                rows=(custody("county_jail", "L-40d", "L-1d"),),
            ),
        ),
    ),
    "justice_adult_no_dx": Persona(
        "near miss: released in the lookback, no qualifying diagnosis",
        (adult("JUSTICE_ADULT", False, rows=(custody("county_jail", "D-90d", "D-30d"),)),),
    ),
    "justice_adult_in_custody": Persona(
        "near miss: booked in the lookback, still in custody (no release date)",
        (
            adult(
                "JUSTICE_ADULT",
                False,
                office("L+10d", "I10"),
                rows=(custody("county_jail", "L+30d", ""),),
            ),
        ),
    ),
    # JUSTICE_CHILD ----------------------------------------------------------------
    "justice_child": Persona(
        "released from youth correctional in the lookback (booking date empty)",
        (
            child(
                "JUSTICE_CHILD",
                True,
                rows=(custody("youth_correctional", "", "D-45d", "county probation"),),
                age=(15, 19),
            ),
        ),
    ),
    "justice_child_release_before": Persona(
        "near miss: released from youth correctional the day before the lookback",
        (
            child(
                "JUSTICE_CHILD",
                False,
                rows=(custody("youth_correctional", "L-200d", "L-1d", "county probation"),),
                age=(15, 19),
            ),
        ),
    ),
    "justice_child_turns_21": Persona(
        "near miss: released in the lookback, turns 21 on D (an adult, no diagnosis)",
        (
            Role(
                "JUSTICE_CHILD",
                False,
                birth="D-21y",
                rows=(custody("county_jail", "D-40d", "D-10d"),),
            ),
        ),
    ),
    # LTC_RISK_ADULT ---------------------------------------------------------------
    "ltc_assessment_community": Persona(
        "living alone (Z60.2); latest assessment: community, meets SNF level of care, "
        "able to reside",
        (
            adult(
                "LTC_RISK_ADULT",
                True,
                office("L+40d", "I10", "Z602"),
                rows=(assessment("D-40d", *COMMUNITY_OK),),
                age=(60, 90),
            ),
        ),
    ),
    "ltc_nf_discharge_home": Persona(
        "Z63.0; a nursing facility stay ended in the lookback, discharged home (01)",
        (
            adult(
                "LTC_RISK_ADULT",
                True,
                office("L+20d", "E119", "Z630"),
                nf_stay("L+60d", 40, "01"),
                age=(65, 90),
            ),
        ),
    ),
    "ltc_swing_bed_home_health": Persona(
        "food insecurity; a swing-bed stay (181) ended in the lookback, home health (06)",
        (
            adult(
                "LTC_RISK_ADULT",
                True,
                office("L+20d", "I509", "Z5941"),
                nf_stay("D-100d", 21, "06", bill_type="181"),
                age=(65, 90),
            ),
        ),
    ),
    "ltc_shared_date": Persona(
        "Z63.0; two assessments on the latest date, one qualifying",
        (
            adult(
                "LTC_RISK_ADULT",
                True,
                office("L+20d", "I10", "Z630"),
                rows=(
                    assessment("D-30d", "community", "N", "N", "N", "Y"),
                    assessment("D-30d", *COMMUNITY_OK),
                ),
                age=(60, 90),
            ),
        ),
    ),
    "ltc_no_csf": Persona(
        "near miss: a qualifying assessment, no complex social factor",
        (
            adult(
                "LTC_RISK_ADULT",
                False,
                office("L+40d", "I10"),
                rows=(assessment("D-40d", *COMMUNITY_OK),),
                age=(60, 90),
            ),
        ),
    ),
    "ltc_latest_not_able": Persona(
        "near miss: Z60.2; the latest assessment says not able to reside in the community",
        (
            adult(
                "LTC_RISK_ADULT",
                False,
                office("L+10d", "I10", "Z602"),
                rows=(
                    assessment("L+30d", *COMMUNITY_OK),
                    assessment("D-20d", "community", "Y", "N", "N", "N"),
                ),
                age=(60, 90),
            ),
        ),
    ),
    "ltc_nf_discharge_snf": Persona(
        "near miss: Z63.0; a nursing facility stay ended in the lookback, discharged to a SNF (03)",
        (
            adult(
                "LTC_RISK_ADULT",
                False,
                office("L+20d", "I10", "Z630"),
                nf_stay("D-100d", 40, "03"),
                age=(65, 90),
            ),
        ),
    ),
    # NF_TRANSITION_ADULT ----------------------------------------------------------
    "nf_transition": Persona(
        "nursing facility resident; latest assessment interested in and able to transition",
        (
            adult(
                "NF_TRANSITION_ADULT",
                True,
                nf_stay("L24-100d", 0, "", ongoing=True),
                rows=(
                    assessment("L+40d", "nursing_facility", "Y", "N", "N", "N"),
                    assessment("D-25d", "nursing_facility", "Y", "N", "Y", "Y"),
                ),
                age=(55, 90),
            ),
        ),
    ),
    "nf_transition_not_interested": Persona(
        "near miss: interested earlier, the latest assessment not interested",
        (
            adult(
                "NF_TRANSITION_ADULT",
                False,
                nf_stay("L24-200d", 0, "", ongoing=True),
                rows=(
                    assessment("L+40d", "nursing_facility", "Y", "N", "Y", "Y"),
                    assessment("D-25d", "nursing_facility", "Y", "N", "N", "Y"),
                ),
                age=(55, 90),
            ),
        ),
    ),
    "nf_transition_before_lookback": Persona(
        "near miss: the only qualifying assessment the day before the lookback",
        (
            adult(
                "NF_TRANSITION_ADULT",
                False,
                rows=(assessment("L-1d", "nursing_facility", "Y", "N", "Y", "Y"),),
                age=(55, 90),
            ),
        ),
    ),
    # CCS_CHILD --------------------------------------------------------------------
    "ccs_child": Persona(
        "CCS span open through D (sickle cell); positive ACE screening",
        (
            child(
                "CCS_CHILD",
                True,
                office("L+30d", "D571"),
                preventive_ace("D-60d", "Z00129"),
                rows=(ccs("CCS", "L24-200d", "", "sickle cell disease"),),
                age=(2, 17),
            ),
        ),
    ),
    "ccs_wcm_child": Persona(
        "CCS Whole Child Model span ending after D (cystic fibrosis); Z63.0",
        (
            child(
                "CCS_CHILD",
                True,
                office("D-100d", "E840", "Z630"),
                rows=(ccs("CCS_WCM", "L+10d", "D+90d", "cystic fibrosis"),),
                age=(2, 17),
            ),
        ),
    ),
    "ccs_child_ended": Persona(
        "near miss: CCS span ended the day before D; Z63.0",
        (
            child(
                "CCS_CHILD",
                False,
                office("L+60d", "G40909", "Z630"),
                rows=(ccs("CCS", "L24-100d", "D-1d", "epilepsy"),),
                age=(2, 17),
            ),
        ),
    ),
    "ccs_child_no_csf": Persona(
        "near miss: CCS span covering D, no complex social factor",
        (
            child(
                "CCS_CHILD",
                False,
                office("L+60d", "D571"),
                rows=(ccs("CCS", "L24", "", "sickle cell disease"),),
                age=(2, 17),
            ),
        ),
    ),
    # CHILD_WELFARE ----------------------------------------------------------------
    "foster_care_current": Persona(
        "foster care open through D",
        (child("CHILD_WELFARE", True, rows=(welfare("foster_care", "L-300d"),), age=(5, 17)),),
    ),
    "foster_care_ended_in_lookback": Persona(
        "foster care that ended on the first day of the lookback",
        (child("CHILD_WELFARE", True, rows=(welfare("foster_care", "L-400d", "L"),), age=(5, 17)),),
    ),
    "adoption_assistance": Persona(
        "adoption assistance covering D",
        (
            child(
                "CHILD_WELFARE",
                True,
                rows=(welfare("adoption_assistance", "L24-300d"),),
                age=(3, 15),
            ),
        ),
    ),
    "family_maintenance": Persona(
        "family maintenance that ended early in the lookback",
        (
            child(
                "CHILD_WELFARE",
                True,
                rows=(welfare("family_maintenance", "L-100d", "L+10d"),),
                age=(3, 15),
            ),
        ),
    ),
    "aged_out_25": Persona(
        "aged out of foster care at 18, now 25",
        (
            child(
                "CHILD_WELFARE",
                True,
                rows=(welfare("aged_out_foster_care", "B+18y"),),
                age=(25, 25),
            ),
        ),
    ),
    "foster_care_ended_before": Persona(
        "near miss: foster care ended the day before the lookback",
        (
            child(
                "CHILD_WELFARE",
                False,
                rows=(welfare("foster_care", "L-500d", "L-1d"),),
                age=(5, 17),
            ),
        ),
    ),
    "adoption_assistance_ended": Persona(
        "near miss: adoption assistance ended a month before D",
        (
            child(
                "CHILD_WELFARE",
                False,
                rows=(welfare("adoption_assistance", "L24", "D-30d"),),
                age=(3, 15),
            ),
        ),
    ),
    "aged_out_26": Persona(
        "near miss: aged out of foster care, 26th birthday on D",
        (
            Role(
                "CHILD_WELFARE",
                False,
                birth="D-26y",
                rows=(welfare("aged_out_foster_care", "B+21y"),),
            ),
        ),
    ),
    "foster_care_turns_21": Persona(
        "near miss: foster care open, turns 21 on D",
        (Role("CHILD_WELFARE", False, birth="D-21y", rows=(welfare("foster_care", "L-300d"),)),),
    ),
    # BIRTH_EQUITY -----------------------------------------------------------------
    "birth_equity_adult_delivery": Persona(
        "Black mother: prenatal visits, a delivery stay (O80, Z37.0, DRG 807), "
        "postpartum visit; her newborn",
        (
            adult(
                "BIRTH_EQUITY_ADULT",
                True,
                prenatal("D-250d", "Z3480"),
                prenatal("D-180d", "Z3481", "Z3A20"),
                prenatal("D-100d", "Z3482", "O9989"),
                stay(
                    "D-60d",
                    2,
                    "O80",
                    "Z370",
                    "Z3A39",
                    drg="807",
                    admit_type="2",
                    room="0122",
                    procedure="10E0XZZ",
                ),
                office("D-25d", "Z391"),
                age=(22, 40),
                sex="female",
                race="black or african american",
            ),
            Role(
                None,
                False,
                birth="D-60d",
                race="black or african american",
                claims=(stay("B", 2, "Z3800", drg="795", admit_type="4", room="0171"),),
            ),
        ),
    ),
    "birth_equity_child": Persona(
        "American Indian teen, high-risk pregnancy supervision in the lookback",
        (
            child(
                "BIRTH_EQUITY_CHILD",
                True,
                prenatal("D-50d", "O0900"),
                prenatal("D-20d", "Z3A20"),
                age=(16, 20),
                sex="female",
                race="american indian or alaska native",
            ),
        ),
    ),
    "birth_equity_child_turns_21": Persona(
        "near miss of the child population: Black, pregnant in the lookback, "
        "turns 21 on D (an adult)",
        (
            Role(
                "BIRTH_EQUITY_CHILD",
                False,
                birth="D-21y",
                sex="female",
                race="black or african american",
                claims=(prenatal("D-50d", "Z3480"),),
            ),
        ),
    ),
    "birth_equity_carryover": Persona(
        "Pacific Islander, pregnancy dx only in the 9 months before the lookback, no end",
        (
            adult(
                "BIRTH_EQUITY_ADULT",
                True,
                prenatal("L-120d", "Z3480"),
                prenatal("L-40d", "Z3A20", "O9989"),
                age=(22, 40),
                sex="female",
                race="native hawaiian or other pacific islander",
            ),
        ),
    ),
    "birth_equity_loss_before": Persona(
        "near miss: pregnancy and a loss (O03.9) both before the lookback",
        (
            adult(
                "BIRTH_EQUITY_ADULT",
                False,
                prenatal("L-150d", "Z3480"),
                office("L-100d", "O039", hcpcs="59820"),
                age=(22, 40),
                sex="female",
                race="black or african american",
            ),
        ),
    ),
    "birth_equity_white": Persona(
        "near miss: pregnant in the lookback, race white",
        (
            adult(
                "BIRTH_EQUITY_ADULT",
                False,
                prenatal("D-100d", "Z3480"),
                age=(22, 40),
                sex="female",
                race="white",
            ),
        ),
    ),
    "birth_equity_too_early": Persona(
        "near miss: the only pregnancy dx a day more than 9 months before the lookback",
        (
            adult(
                "BIRTH_EQUITY_ADULT",
                False,
                prenatal("L-9m-1d", "Z3480"),
                age=(22, 40),
                sex="female",
                race="black or african american",
            ),
        ),
    ),
}


# --- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One planted member: its chunk-local position, recipe, role and household."""

    position: int
    persona: str
    role: int
    instance: int  # the recipe instance within the chunk
    head_position: int  # the position of the instance's first role (the subscriber)


def in_window(persona: Persona, anchors: Anchors) -> bool:
    """A recipe is planted only when all its claims fall inside the generated history
    (feed rows may be older: partner feeds carry history)."""
    for role in persona.roles:
        birth = resolve(role.birth, anchors) if role.birth else None
        for c in role.claims:
            day = resolve(c.at, anchors, birth)
            if c.kind == "nf" and c.ongoing:
                continue  # a long stay begun before the window is billed from its start
            if day < anchors.window or day > anchors.end:
                return False
    return True


def chunk_plan(chunk_members: int, anchors: Anchors) -> list[Slot]:
    """The personas of one chunk of `chunk_members` members, at the end of the chunk."""
    limit = int(chunk_members * MAX_PERSONA_SHARE)
    count = max(1, round(chunk_members * PERSONA_SHARE_PER_RECIPE))
    chosen: list[tuple[str, int]] = []  # (persona, roles)
    used = 0
    for _ in range(count):
        for name, persona in PERSONAS.items():
            if not in_window(persona, anchors):
                continue
            size = len(persona.roles)
            if used + size > limit:
                continue
            chosen.append((name, size))
            used += size
    # Order: by recipe, instances together (the loop above interleaves for fairness when
    # the chunk is too small to hold every recipe once per instance).
    order = {name: i for i, name in enumerate(PERSONAS)}
    chosen.sort(key=lambda item: order[item[0]])
    slots: list[Slot] = []
    position = chunk_members - used
    for instance, (name, size) in enumerate(chosen):
        head = position
        for role in range(size):
            slots.append(Slot(position, name, role, instance, head))
            position += 1
    return slots
