"""Each packaged value set holds exactly the codes its definition in docs/POPULATIONS.md
names: every code or category of the definition matched, nothing outside it.

The definitions below are docs/POPULATIONS.md's words, one place, each checked to appear
there; the test expands each into the rows its value set must hold, written as
reference/value_sets/README.md says ("How a rule's codes are written"): a range of ICD-10-CM
categories is a prefix row per category that exists, "F50.x" the prefix F50, a complete
ICD-10-CM code exact and one with subcodes a prefix; procedure, revenue, place-of-service,
admit type, discharge and DRG codes exact; "11x" the type-of-bill prefix 11.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from ecm.config.paths import REFERENCE_DIR

DOCS = Path(__file__).resolve().parents[1] / "docs" / "POPULATIONS.md"
VALUE_SETS = REFERENCE_DIR / "value_sets"

# value set -> (its code system, the definition as docs/POPULATIONS.md words it).
DEFINITIONS: dict[str, tuple[str, str]] = {
    # Shared criteria
    "smi": ("icd10cm", "F20–F29, F30–F39, F43.1, F50.x, F60.3"),
    "sud": ("icd10cm", "F10–F16, F18, F19"),
    "mh_sud": ("icd10cm", "F01–F99 except F17"),
    "idd": ("icd10cm", "F70–F79, F84.x, F88, F89, Q90.x"),
    "tbi": ("icd10cm", "S06.x, F07.81"),
    "hiv_aids": ("icd10cm", "B20, Z21"),
    "pregnancy_postpartum": ("icd10cm", "O00–O9A, Z33.1, Z34.x, Z3A.x, Z37.x, Z39.x"),
    "pregnancy_end_dx": ("icd10cm", "O00–O08 (loss), O80, O82, Z37.x"),
    "complex_social_factor_dx": ("icd10cm", "a diagnosis Z55–Z65"),
    "homelessness_dx": ("icd10cm", "Z59.0, Z59.00, Z59.01, Z59.02, Z59.811, Z59.812"),
    "overdose": ("icd10cm", "T40.x, T42.4, T43.6, T51.x"),
    "suicidality": ("icd10cm", "R45.851, T14.91"),
    "ace_screening": ("hcpcs", "HCPCS G9919"),
    "crisis_service": ("hcpcs", "HCPCS H2011, S9484, S9485; CPT 90839, 90840"),
    "psychiatric_revenue_code": (
        "revenue_code",
        "revenue code 0114, 0124, 0134, 0144, 0154 or 0204",
    ),
    "office_visit": ("hcpcs", "E/M 99202–99215"),
    "urgent_care_place_of_service": ("place_of_service", "place of service 20"),
    "community_discharge_disposition": ("discharge_disposition", "discharge disposition 01 or 06"),
    # Events built from claims
    "ed_revenue_code": ("revenue_code", "`ed_revenue_code` (0450–0459, 0981)"),
    "ed_procedure": ("hcpcs", "`ed_procedure` (99281–99285, G0380–G0384)"),
    "ed_place_of_service": ("place_of_service", "`ed_place_of_service` (23)"),
    "acute_inpatient_bill_type": ("bill_type", "`acute_inpatient_bill_type` (11x, 12x)"),
    "nursing_facility_bill_type": ("bill_type", "`nursing_facility_bill_type` (21x, 18x)"),
    # Avoidable and unplanned
    "unplanned_admit_type": (
        "admit_type",
        "`unplanned_admit_type` (1 emergency, 2 urgent, 5 trauma)",
    ),
    "newborn_admit_type": ("admit_type", "`newborn_admit_type`, admit type 4"),
    "delivery_principal_dx": ("icd10cm", "`delivery_principal_dx`: O80, O82, Z37.x"),
    "delivery_drg": ("ms_drg", "`delivery_drg`: 768, 783–788, 796–798, 805–807"),
    # Exclusions: hospice from claims
    "hospice_bill_type": ("bill_type", "`hospice_bill_type` (81x, 82x)"),
}
# A list, not a definition: its sidecar names every group and source.
DOCUMENTED_AS_A_LIST = {"chronic_condition"}


# Codes a definition's range spans that the code set does not have (ICD-10-CM FY2026
# tabular list; CPT): a range is written as the categories that exist.
def _codes(*lines: str) -> set[str]:
    return {code for line in lines for code in line.split()}


NOT_IN_THE_CODE_SET = _codes(
    # ICD-10-CM chapter 5 (F01-F99)
    "F08 F26 F27 F35 F36 F37 F38 F46 F47 F49 F56 F57 F58 F61 F62 F67",
    "F74 F75 F76 F77 F83 F85 F86 F87 F92 F96 F97",
    # ICD-10-CM chapter 15 (O00-O9A)
    "O05 O06 O17 O18 O19 O27 O37 O38 O39 O49 O50 O51 O52 O53 O54 O55 O56 O57",
    "O58 O59 O78 O79 O81 O83 O84 O93 O95 O96 O97",
    # ICD-10-CM Z55-Z65
    "Z61",
    # CPT office E/M: there is no 99206 to 99210
    "99206 99207 99208 99209 99210",
)
# ICD-10-CM codes the definitions name with a dot that are complete (billable): matched
# exact; the others have subcodes or take a 7th character and are prefixes.
COMPLETE_CODES = _codes("F603 Z331 F0781 Z590 Z5900 Z5901 Z5902 Z59811 Z59812 R45851")

TOKEN = re.compile(r"[A-Z0-9.]*[0-9][A-Z0-9.]*x?(?:–[A-Z0-9]+)?")


def _span(low: str, high: str) -> list[str]:
    """The codes from `low` to `high`: ICD-10-CM categories (a letter, two characters: the
    digits between, and `high` itself: O00–O9A), or codes of one width whose numeric tail
    counts up (0450–0459, G0380–G0384, 783–788)."""
    if len(low) == 3 and low[0].isalpha():
        between = [f"{low[0]}{n:02d}" for n in range(int(low[1:]), 100)]
        return [c for c in between if c <= high] + ([high] if not high[1:].isdigit() else [])
    head = re.match(r"[A-Z]*", low).group(0)
    width = len(low) - len(head)
    return [
        f"{head}{n:0{width}d}" for n in range(int(low[len(head) :]), int(high[len(head) :]) + 1)
    ]


def expected_rows(code_system: str, definition: str) -> set[tuple[str, str]]:
    """The (match, code) rows a value set of `code_system` defined by `definition` holds."""
    named, _, excepted = definition.partition(" except ")
    rows: set[tuple[str, str]] = set()
    for token in TOKEN.findall(named):
        if "–" in token:
            low, high = token.split("–")
            codes = _span(low, high)
        else:
            codes = [token]
        for raw in codes:
            code = raw.removesuffix(".x").removesuffix("x").replace(".", "")
            if code in NOT_IN_THE_CODE_SET or code in excepted.split(", "):
                continue
            if raw.endswith("x"):
                rows.add(("prefix", code))  # F50.x, 11x
            elif code_system == "icd10cm":
                rows.add(("exact" if code in COMPLETE_CODES else "prefix", code))
            else:
                rows.add(("exact", code))
    return rows


def value_set_rows(name: str) -> tuple[set[str], set[tuple[str, str]]]:
    """A packaged value set's code systems and (match, code) rows."""
    with (VALUE_SETS / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {r["code_system"] for r in rows}, {(r["match"], r["code"]) for r in rows}


def test_every_definition_is_the_words_of_docs_populations():
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    for name, (_, definition) in DEFINITIONS.items():
        assert definition in text, (name, definition)


def test_every_packaged_value_set_has_a_definition():
    packaged = {p.stem for p in VALUE_SETS.glob("*.csv")}
    assert packaged == set(DEFINITIONS) | DOCUMENTED_AS_A_LIST


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_a_value_set_holds_exactly_the_codes_of_its_definition(name):
    code_system, definition = DEFINITIONS[name]
    systems, rows = value_set_rows(name)
    expected = expected_rows(code_system, definition)
    assert systems == {code_system}
    assert rows - expected == set(), f"{name}.csv holds rows outside '{definition}'"
    assert expected - rows == set(), f"{name}.csv lacks rows of '{definition}'"


@pytest.mark.parametrize(
    ("code_system", "definition", "rows"),
    [
        ("icd10cm", "F20–F29", {("prefix", f"F2{d}") for d in "01234589"}),
        (
            "icd10cm",
            "F43.1, F50.x, F60.3",
            {("prefix", "F431"), ("prefix", "F50"), ("exact", "F603")},
        ),
        ("icd10cm", "F15–F19 except F17", {("prefix", f"F1{d}") for d in "5689"}),
        ("icd10cm", "O98–O9A", {("prefix", "O98"), ("prefix", "O99"), ("prefix", "O9A")}),
        (
            "revenue_code",
            "0450–0452, 0981",
            {("exact", c) for c in ("0450", "0451", "0452", "0981")},
        ),
        (
            "hcpcs",
            "G0383–G0384; CPT 99205–99211",
            {("exact", c) for c in ("G0383", "G0384", "99205", "99211")},
        ),
        ("bill_type", "(11x, 12x)", {("prefix", "11"), ("prefix", "12")}),
        ("ms_drg", "768, 796–798", {("exact", c) for c in ("768", "796", "797", "798")}),
    ],
)
def test_the_expansion_of_a_definition(code_system, definition, rows):
    assert expected_rows(code_system, definition) == rows
