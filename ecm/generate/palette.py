"""What the generator draws from: code lists, weights, rates and names, as data.

The rules read their codes from reference/value_sets/ (and the NYU and PQI tables); this
module is the generator's own palette, kept in one place so a reader sees at once which
real codes the synthetic feeds use and how often. tests/test_generate.py checks that each
list hits the value set it is meant to hit (an SMI code is in smi.csv, an avoidable ED
code is avoidable in the Johnston table), so the palette cannot drift from the rules.

ICD-10-CM codes are written normalised (no dot); the generator writes some with the dot.
HCPCS/CPT, revenue codes and bill types are written as real feeds carry them.
"""

from __future__ import annotations

# --- members ---------------------------------------------------------------------------

# Age bands (completed years at `end`) and their share of members: a Medi-Cal-like shape,
# 38% under 21.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 4, 0.090),
    (5, 9, 0.090),
    (10, 14, 0.095),
    (15, 20, 0.105),
    (21, 29, 0.130),
    (30, 39, 0.130),
    (40, 49, 0.100),
    (50, 59, 0.100),
    (60, 64, 0.050),
    (65, 74, 0.060),
    (75, 84, 0.035),
    (85, 95, 0.015),
)
MAX_AGE = 95

# Race (Tuva/OMB values) of a California Medi-Cal plan; "other race" holds much of the
# Hispanic population. Share of each race reporting Hispanic ethnicity alongside.
RACES: tuple[tuple[str, float, float], ...] = (
    ("white", 0.200, 0.35),
    ("black or african american", 0.080, 0.03),
    ("asian", 0.100, 0.02),
    ("american indian or alaska native", 0.010, 0.30),
    ("native hawaiian or other pacific islander", 0.005, 0.05),
    ("other race", 0.455, 0.86),
    ("unknown", 0.150, 0.55),
)
HISPANIC = "hispanic or latino"
NOT_HISPANIC = "not hispanic or latino"

# Enrollment patterns of base members over the history window.
ENROLLMENT_PATTERNS: tuple[tuple[str, float], ...] = (
    ("continuous", 0.74),
    ("late_start", 0.09),
    ("ended", 0.08),
    ("gap", 0.09),
)
# Deaths per member-year by age band (lower bound of the band).
DEATH_RATES: tuple[tuple[int, float], ...] = ((0, 0.0008), (45, 0.004), (65, 0.02), (80, 0.06))

HOUSEHOLD_CHILDREN_PER_PARENT = 2.2
SPOUSE_SHARE = 0.25
FEMALE_SHARE_ADULT = 0.54
FEMALE_SHARE_CHILD = 0.49

FIRST_NAMES_F = (
    "Maria",
    "Guadalupe",
    "Ana",
    "Sofia",
    "Isabella",
    "Camila",
    "Jennifer",
    "Jessica",
    "Ashley",
    "Emily",
    "Linh",
    "Mai",
    "Jasmine",
    "Aaliyah",
    "Destiny",
    "Mei",
    "Grace",
    "Rosa",
    "Veronica",
    "Leticia",
    "Elena",
    "Fatima",
    "Hannah",
    "Olivia",
    "Ximena",
    "Nayeli",
    "Kiana",
    "Malia",
    "Priya",
    "Yesenia",
)
FIRST_NAMES_M = (
    "Jose",
    "Juan",
    "Luis",
    "Carlos",
    "Miguel",
    "Jesus",
    "Daniel",
    "David",
    "Anthony",
    "Michael",
    "Christopher",
    "Minh",
    "Tuan",
    "Wei",
    "Jamal",
    "Darnell",
    "Marcus",
    "Andre",
    "Mateo",
    "Santiago",
    "Diego",
    "Adrian",
    "Kevin",
    "Brandon",
    "Omar",
    "Arturo",
    "Ethan",
    "Noah",
    "Keoni",
    "Raj",
)
LAST_NAMES = (
    "Garcia",
    "Hernandez",
    "Lopez",
    "Martinez",
    "Gonzalez",
    "Rodriguez",
    "Perez",
    "Sanchez",
    "Ramirez",
    "Torres",
    "Flores",
    "Rivera",
    "Gomez",
    "Diaz",
    "Cruz",
    "Reyes",
    "Morales",
    "Ortiz",
    "Gutierrez",
    "Chavez",
    "Nguyen",
    "Tran",
    "Le",
    "Pham",
    "Kim",
    "Lee",
    "Chen",
    "Wang",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Davis",
    "Miller",
    "Wilson",
    "Anderson",
    "Thomas",
    "Jackson",
    "White",
    "Harris",
    "Robinson",
    "Walker",
    "Young",
    "Patel",
    "Singh",
    "Santos",
    "Castillo",
    "Vasquez",
    "Mendoza",
)
STREETS = (
    "Main St",
    "Broadway",
    "Oak Ave",
    "Pine St",
    "Maple Ave",
    "Cedar St",
    "Elm St",
    "Mission St",
    "Olive Ave",
    "Alvarado St",
    "Cesar Chavez Ave",
    "Figueroa St",
    "El Camino Real",
    "San Pablo Ave",
    "Fruitridge Rd",
    "Blackstone Ave",
    "University Ave",
    "Magnolia Ave",
    "Euclid Ave",
    "Valley Blvd",
)
# County, city, first three digits of its ZIP codes, telephone area code, weight.
PLACES: tuple[tuple[str, str, str, str, float], ...] = (
    ("Los Angeles", "Los Angeles", "900", "213", 0.22),
    ("Los Angeles", "Long Beach", "908", "562", 0.06),
    ("San Diego", "San Diego", "921", "619", 0.09),
    ("Orange", "Santa Ana", "927", "714", 0.07),
    ("Riverside", "Riverside", "925", "951", 0.07),
    ("San Bernardino", "San Bernardino", "924", "909", 0.07),
    ("Fresno", "Fresno", "937", "559", 0.06),
    ("Sacramento", "Sacramento", "958", "916", 0.06),
    ("Alameda", "Oakland", "946", "510", 0.05),
    ("Kern", "Bakersfield", "933", "661", 0.05),
    ("Santa Clara", "San Jose", "951", "408", 0.05),
    ("San Joaquin", "Stockton", "952", "209", 0.04),
    ("Tulare", "Visalia", "932", "559", 0.03),
    ("Humboldt", "Eureka", "955", "707", 0.01),
    ("Imperial", "El Centro", "922", "760", 0.02),
    ("Monterey", "Salinas", "939", "831", 0.04),
)
LANGUAGES: tuple[tuple[str, float], ...] = (
    ("English", 0.58),
    ("Spanish", 0.31),
    ("Vietnamese", 0.025),
    ("Chinese", 0.02),
    ("Tagalog", 0.01),
    ("Korean", 0.01),
    ("Armenian", 0.01),
    ("Russian", 0.005),
    ("Arabic", 0.005),
    ("Farsi", 0.005),
)
# Medi-Cal aid codes by who holds them.
AID_CODES_CHILD = ("7X", "8U", "H1", "5C", "4C", "T4", "M5")
AID_CODES_ADULT = ("M1", "L1", "7U", "1H", "8N", "M3")
AID_CODES_AGED = ("10", "16", "1E", "1H")
AID_CODES_PREGNANT = ("M7", "0E")
PAYER = "medi-cal"
PLAN = "medi-cal managed care"
ELIGIBILITY_SOURCE = "plan eligibility"
# Medicare dual status of full duals (65 and older, most of them).
DUAL_STATUS_CODES = ("02", "04", "08")
DUAL_SHARE_AGED = 0.85

# --- claims ----------------------------------------------------------------------------

CLAIM_SOURCES: tuple[tuple[str, float], ...] = (("plan encounters", 0.82), ("medi-cal ffs", 0.18))
PHARMACY_SOURCE = "medi-cal rx"
DIAGNOSIS_CODE_TYPE = "icd-10-cm"
PROCEDURE_CODE_TYPE = "icd-10-pcs"

# Share of claims written in the other form real feeds mix in.
DOTTED_DX_SHARE = 0.10
THREE_DIGIT_REVENUE_SHARE = 0.10
FOUR_DIGIT_BILL_TYPE_SHARE = 0.10
# Months a claim arrives after the first of the month after its last service day (0: that
# first; 1-3: two to four months after the month of service).
FILE_LAG_MONTHS: tuple[tuple[int, float], ...] = ((0, 0.82), (1, 0.11), (2, 0.045), (3, 0.025))
# Institutional claims delivered again in a later file: corrected (frequency 7, another
# diagnosis) and voided (frequency 8).
CORRECTED_SHARE = 0.02
VOIDED_SHARE = 0.005

# Member utilisation: a gamma frailty (mean 1) times rates per enrolled member-year.
FRAILTY_SHAPE = 0.55
# Base events per enrolled member-year by age band (lower bound): office visits,
# preventive visits, lab claims, hospital outpatient claims, ED visits, urgent care,
# acute stays, pharmacy fills.
EVENT_RATES: dict[str, tuple[tuple[int, float], ...]] = {
    "office": ((0, 2.0), (2, 1.6), (21, 3.1), (50, 4.3), (65, 5.2)),
    "preventive": ((0, 3.5), (2, 0.9), (21, 0.35), (65, 0.5)),
    "lab": ((0, 0.8), (2, 0.6), (21, 1.6), (50, 2.5), (65, 3.0)),
    "outpatient": ((0, 0.15), (2, 0.15), (21, 0.45), (50, 0.8), (65, 1.0)),
    "ed": ((0, 0.55), (2, 0.40), (15, 0.50), (21, 0.55), (65, 0.60)),
    "urgent": ((0, 0.25), (21, 0.20), (65, 0.10)),
    "stay": ((0, 0.025), (2, 0.012), (21, 0.026), (50, 0.045), (65, 0.085)),
    "pharmacy": ((0, 2.0), (21, 5.0), (50, 10.0), (65, 14.0)),
}
# Rate multipliers for members with a condition (applied to ED visits and stays).
CONDITION_ED_FACTOR = {"smi": 2.0, "sud": 2.5, "homeless_dx": 2.5, "chronic_adult": 1.3}
# Behavioural health visits per member-year for members with a condition.
BH_VISIT_RATES = {"smi": 6.0, "sud": 5.0, "mh_other": 2.5, "idd": 2.0}
# Crisis services per member-year.
CRISIS_RATES = {"smi": 0.35, "sud": 0.30, "mh_other": 0.05, "none": 0.002}
# Psychiatric stays per member-year.
PSYCH_STAY_RATES = {"smi": 0.12, "sud": 0.08, "mh_other": 0.01}
# ED visits followed by an admission (same day 70%, next day 30%); of those, the share
# whose ED lines ride on the inpatient claim instead of a separate outpatient claim.
ED_ADMIT_SHARE = 0.08
ED_ADMIT_NEXT_DAY_SHARE = 0.30
ED_LINES_ON_INPATIENT_SHARE = 0.5
# ED visits: both claims / facility claim only / professional claim only.
ED_CLAIM_SHAPES: tuple[tuple[str, float], ...] = (
    ("both", 0.92),
    ("facility", 0.05),
    ("professional", 0.03),
)
ED_FACILITY_HCPCS_SHARE = 0.6
# Acute stays: transfers to a second hospital, interim billing of long stays.
TRANSFER_SHARE = 0.03
INTERIM_MIN_LOS = 10
INTERIM_SHARE = 0.5
# Post-acute nursing facility stays after an acute stay of a member 65 or older.
POST_ACUTE_SNF_SHARE = 0.15
SWING_BED_SHARE = 0.1
# ACE screening (G9919) on preventive visits.
ACE_SCREEN_SHARE_CHILD = 0.04
ACE_SCREEN_SHARE_ADULT = 0.01
# Pregnancy: share of women 15-44 with a delivery per year; losses per pregnancy.
PREGNANCY_RATE = 0.08
PREGNANCY_LOSS_SHARE = 0.12
CESAREAN_SHARE = 0.3
NEWBORN_STAY_SHARE = 0.9

# Admit type of acute stays ('' = blank), discharge disposition of acute stays.
ADMIT_TYPES: tuple[tuple[str, float], ...] = (
    ("1", 0.55),
    ("2", 0.15),
    ("3", 0.20),
    ("5", 0.02),
    ("", 0.06),
    ("9", 0.02),
)
ACUTE_DISPOSITIONS: tuple[tuple[str, float], ...] = (
    ("01", 0.72),
    ("06", 0.12),
    ("03", 0.07),
    ("07", 0.02),
    ("62", 0.03),
    ("65", 0.02),
    ("04", 0.02),
)
SNF_DISPOSITIONS: tuple[tuple[str, float], ...] = (
    ("01", 0.5),
    ("06", 0.25),
    ("03", 0.1),
    ("02", 0.1),
    ("20", 0.05),
)

# Member conditions: (name, prevalence under 21, 21-49, 50+, codes). A member with a
# condition carries one of its codes (two for chronic) on some claims.
CONDITIONS: tuple[tuple[str, float, float, float, tuple[str, ...]], ...] = (
    ("chronic_child", 0.07, 0.0, 0.0, ("J45909", "J4530", "D571", "G40909", "E109", "E840")),
    (
        "chronic_adult",
        0.0,
        0.24,
        0.52,
        (
            "E119",
            "E1165",
            "I10",
            "J449",
            "J45909",
            "N183",
            "I509",
            "B182",
            "C50911",
            "D571",
            "G40909",
            "I2510",
        ),
    ),
    (
        "smi",
        0.02,
        0.045,
        0.035,
        ("F200", "F250", "F319", "F329", "F331", "F4310", "F509", "F603", "F39"),
    ),
    ("sud", 0.008, 0.04, 0.03, ("F1020", "F1120", "F1520", "F1220", "F1420", "F10129", "F1010")),
    ("mh_other", 0.08, 0.08, 0.06, ("F411", "F419", "F909", "F4321", "F4323", "F902", "F17210")),
    ("idd", 0.012, 0.006, 0.004, ("F70", "F71", "F840", "Q909", "F88")),
    ("hiv", 0.0002, 0.004, 0.004, ("B20", "Z21")),
    ("tbi", 0.002, 0.003, 0.003, ("S060X0A", "S065X0A", "F0781")),
    ("social", 0.05, 0.06, 0.05, ("Z5941", "Z560", "Z630", "Z650", "Z602", "Z62810", "Z558")),
    ("homeless_dx", 0.004, 0.012, 0.01, ("Z590", "Z5900", "Z5901", "Z5902", "Z59811")),
)
# Codes a condition adds to its member's ED visits as the primary diagnosis, and how often.
CONDITION_ED_DX: dict[str, tuple[float, tuple[str, ...]]] = {
    "smi": (0.35, ("F329", "F200", "F319", "R45851", "F4310", "T1491XA")),
    "sud": (0.35, ("F10129", "F1020", "F1120", "T401X1A", "T40411A", "T436X1A", "F1510")),
    "mh_other": (0.15, ("F411", "F419")),
}

# ED primary diagnoses of the base population and their weights. The Johnston table makes
# J069, N390, M545, R51 ... avoidable; R079, I214, S-/T- (injury), F-codes (mental
# health, alcohol, drug) are not; R519, M5450 (newer than the table) fall back to their
# prefix, U071 and Z5901 are not in the table at all (unclassified).
ED_DX: tuple[tuple[str, float], ...] = (
    ("J069", 4.0),
    ("R51", 1.5),
    ("R519", 1.5),
    ("N390", 2.0),
    ("M545", 0.8),
    ("M5450", 1.8),
    ("J029", 1.5),
    ("H6690", 1.8),
    ("R1010", 1.5),
    ("R109", 1.8),
    ("R1084", 1.0),
    ("R110", 1.0),
    ("R112", 1.5),
    ("K529", 1.5),
    ("A09", 0.8),
    ("J209", 1.5),
    ("R05", 0.6),
    ("R059", 0.6),
    ("R509", 1.5),
    ("L03115", 0.8),
    ("L0291", 0.6),
    ("R21", 0.5),
    ("M79604", 0.4),
    ("M25561", 0.5),
    ("M549", 0.8),
    ("N939", 0.4),
    ("R42", 0.8),
    ("R5383", 0.4),
    ("J45909", 1.2),
    ("I10", 0.5),
    ("E1165", 0.3),
    ("J449", 0.6),
    ("K047", 0.7),
    ("K029", 0.4),
    ("J111", 0.5),
    ("R0789", 1.0),
    ("R079", 4.0),
    ("R0602", 1.6),
    ("R55", 1.4),
    ("I214", 0.5),
    ("I639", 0.5),
    ("K3580", 0.7),
    ("K922", 0.4),
    ("N200", 1.2),
    ("A419", 0.6),
    ("D571", 0.2),
    ("N183", 0.1),
    ("R4182", 0.3),
    ("O209", 0.3),
    ("S93401A", 2.5),
    ("S0990XA", 2.5),
    ("S61411A", 1.3),
    ("S0181XA", 1.0),
    ("S62609A", 0.6),
    ("S8290XA", 0.6),
    ("S39012A", 2.0),
    ("S161XXA", 1.0),
    ("T148XXA", 0.8),
    ("S060X0A", 0.3),
    ("T07XXXA", 0.2),
    ("F329", 0.8),
    ("F411", 0.8),
    ("F419", 0.6),
    ("R45851", 0.3),
    ("F200", 0.2),
    ("F319", 0.2),
    ("F10129", 0.8),
    ("F1020", 0.3),
    ("F1120", 0.2),
    ("F1210", 0.2),
    ("F1510", 0.2),
    ("T401X1A", 0.15),
    ("T424X1A", 0.1),
    ("T436X1A", 0.1),
    ("U071", 0.8),
    ("Z5901", 0.15),
)
# Primary diagnoses of office and urgent care visits that are not a member condition.
OFFICE_ACUTE_DX: tuple[tuple[str, float], ...] = (
    ("J069", 4.0),
    ("J029", 1.5),
    ("J209", 1.0),
    ("H6690", 1.5),
    ("R059", 1.0),
    ("L309", 1.0),
    ("M5450", 1.5),
    ("M25561", 0.8),
    ("R1084", 0.8),
    ("N390", 1.0),
    ("J309", 1.0),
    ("K219", 1.0),
    ("R519", 0.8),
    ("B349", 1.0),
    ("E785", 1.5),
    ("E669", 1.2),
    ("Z713", 0.4),
    ("Z23", 1.0),
    ("R739", 0.6),
    ("E559", 0.6),
)
PREVENTIVE_DX_ADULT = ("Z0000", "Z0001")
PREVENTIVE_DX_CHILD = ("Z00129", "Z00121")
LAB_DX = ("Z0000", "Z1322", "E785", "R739", "Z1159", "D649")
# Comorbidities added to inpatient claims beyond the member's conditions.
NURSING_FACILITY_DX = ("R2689", "I639", "M6281", "G309", "I10", "N184")
INPATIENT_SECONDARY_DX = (
    "E785",
    "Z87891",
    "K219",
    "Z7984",
    "E669",
    "Z79899",
    "D649",
    "E876",
    "N179",
    "F17210",
)

# Acute stays of the base population: principal dx, MS-DRG, weight (adults / children).
STAYS_ADULT: tuple[tuple[str, str, float], ...] = (
    ("J189", "195", 3.0),
    ("J441", "192", 1.5),
    ("I509", "293", 2.0),
    ("A419", "872", 2.0),
    ("L03115", "603", 1.0),
    ("K529", "392", 1.0),
    ("E1165", "638", 1.0),
    ("R079", "313", 1.2),
    ("N390", "690", 1.0),
    ("K3580", "343", 0.6),
    ("I214", "282", 0.5),
    ("I639", "066", 0.5),
    ("S72001A", "481", 0.4),
    ("N179", "684", 0.6),
    ("J45901", "203", 0.4),
)
STAYS_CHILD: tuple[tuple[str, str, float], ...] = (
    ("J219", "203", 2.0),
    ("J45901", "203", 2.0),
    ("J189", "195", 1.5),
    ("K529", "392", 1.0),
    ("E1010", "638", 0.5),
    ("D5700", "812", 0.5),
    ("K3580", "343", 1.0),
    ("N390", "690", 0.5),
)
# Psychiatric / substance stays: principal dx and MS-DRG, by condition.
PSYCH_STAYS: dict[str, tuple[tuple[str, str], ...]] = {
    "smi": (("F200", "885"), ("F319", "885"), ("F329", "881"), ("F4310", "882"), ("F250", "885")),
    "sud": (("F1020", "897"), ("F1120", "895"), ("T401X1A", "917"), ("F1520", "897")),
    "mh_other": (("F411", "882"), ("F4323", "882")),
}
PSYCH_ROOM_REVENUE = ("0114", "0124", "0134", "0154", "0204")
# Delivery and newborn stays.
DELIVERY_VAGINAL = ("O80", "807", "10E0XZZ")
DELIVERY_CESAREAN = ("O82", "788", "10D00Z1")
DELIVERY_SECONDARY_DX = ("Z370", "Z3A39", "Z3A38")
NEWBORN_DX = (("Z3800", "795"), ("Z3801", "795"), ("P599", "794"))
PRENATAL_DX = (
    "Z3480",
    "Z3481",
    "Z3482",
    "Z3400",
    "Z3A20",
    "Z3A32",
    "O9989",
    "O0900",
    "O0990",
    "O24410",
    "O26899",
)
POSTPARTUM_DX = ("Z391", "Z392")
PREGNANCY_LOSS_DX = ("O039", "O021")

# Line content: (revenue code or '', HCPCS/CPT or '', weight).
OFFICE_EM_ESTABLISHED = (("99212", 1.0), ("99213", 4.0), ("99214", 3.0), ("99215", 0.6))
OFFICE_EM_NEW = (("99202", 0.2), ("99203", 0.6), ("99204", 0.4), ("99205", 0.1))
OFFICE_EXTRA_LINES = (
    ("", "36415", 2.0),
    ("", "90471", 1.0),
    ("", "96127", 0.8),
    ("", "81002", 0.8),
    ("", "87880", 0.6),
    ("", "90686", 0.8),
    ("", "99401", 0.3),
    ("", "83036", 0.8),
    ("", "G0444", 0.3),
    ("", "96160", 0.4),
    ("", "99406", 0.2),
)
# Preventive visit by age (lower bound of the band).
PREVENTIVE_EM = (
    (0, "99391"),
    (1, "99392"),
    (5, "99393"),
    (12, "99394"),
    (18, "99395"),
    (40, "99396"),
    (65, "99397"),
)
PREVENTIVE_EXTRA_LINES = (
    ("", "90460", 1.5),
    ("", "90700", 0.6),
    ("", "90707", 0.5),
    ("", "90710", 0.4),
    ("", "90686", 1.0),
    ("", "90651", 0.4),
    ("", "90715", 0.3),
    ("", "96110", 0.6),
    ("", "99173", 0.6),
    ("", "92551", 0.4),
    ("", "83655", 0.3),
    ("", "36415", 0.8),
)
LAB_LINES = (
    ("", "80053", 2.0),
    ("", "85025", 2.5),
    ("", "80061", 1.5),
    ("", "83036", 1.2),
    ("", "84443", 1.0),
    ("", "87086", 0.8),
    ("", "81001", 1.0),
    ("", "36415", 2.0),
    ("", "82565", 0.5),
    ("", "84153", 0.3),
    ("", "87491", 0.4),
    ("", "87591", 0.4),
    ("", "86803", 0.3),
    ("", "82306", 0.6),
    ("", "86580", 0.2),
)
ED_FACILITY_FIRST_REVENUE = (
    ("0450", 8.0),
    ("0451", 0.5),
    ("0452", 0.5),
    ("0456", 0.5),
    ("0459", 0.3),
)
ED_HCPCS = (("99281", 0.3), ("99282", 1.0), ("99283", 3.0), ("99284", 3.0), ("99285", 1.5))
ED_FACILITY_EXTRA_LINES = (
    ("0300", "85025", 2.0),
    ("0301", "80048", 1.5),
    ("0320", "71046", 1.5),
    ("0250", "", 2.0),
    ("0636", "J2405", 0.8),
    ("0636", "J1885", 0.6),
    ("0730", "93005", 1.0),
    ("0350", "70450", 0.6),
    ("0350", "74177", 0.5),
    ("0270", "", 0.8),
    ("0260", "96374", 0.6),
    ("0981", "", 0.1),
)
URGENT_EM = (("99203", 0.5), ("99213", 2.0), ("99214", 1.5))
URGENT_EXTRA_LINES = (
    ("", "S9083", 1.0),
    ("", "87880", 0.8),
    ("", "81002", 0.5),
    ("", "87635", 0.4),
    ("", "87804", 0.4),
)
OUTPATIENT_LINES = (
    ("0320", "71046", 2.0),
    ("0320", "73610", 0.8),
    ("0350", "74177", 0.8),
    ("0402", "76700", 0.6),
    ("0610", "72148", 0.5),
    ("0300", "80053", 1.0),
    ("0360", "45378", 0.3),
    ("0730", "93005", 0.8),
    ("0483", "93306", 0.5),
    ("0250", "", 0.6),
    ("0636", "J1100", 0.3),
)
BH_LINES = (
    ("", "90791", 0.8),
    ("", "90832", 1.0),
    ("", "90834", 2.0),
    ("", "90837", 1.5),
    ("", "90853", 0.5),
    ("", "H0031", 0.4),
    ("", "H0004", 0.6),
    ("", "H2019", 0.4),
    ("", "90847", 0.3),
)
BH_PLACES = (("11", 0.5), ("02", 0.2), ("10", 0.15), ("53", 0.15))
CRISIS_CODES = (("H2011", 3.0), ("S9484", 1.0), ("S9485", 0.5), ("90839", 1.0))
CRISIS_PLACES = (("15", 0.5), ("53", 0.3), ("12", 0.2))
INPATIENT_ROOM_REVENUE = (("0120", 4.0), ("0110", 1.5), ("0111", 0.5), ("0121", 1.0), ("0200", 0.6))
INPATIENT_EXTRA_LINES = (
    ("0250", "", 3.0),
    ("0258", "", 1.0),
    ("0300", "", 2.0),
    ("0301", "", 1.0),
    ("0320", "", 1.0),
    ("0324", "", 0.5),
    ("0360", "", 0.6),
    ("0370", "", 0.4),
    ("0410", "", 0.8),
    ("0636", "", 1.5),
    ("0710", "", 0.3),
    ("0730", "", 0.8),
    ("0272", "", 1.0),
    ("0305", "", 0.4),
)
OB_ROOM_REVENUE = (("0112", 1.0), ("0122", 2.0))
OB_EXTRA_LINES = (
    ("0720", "", 2.0),
    ("0722", "", 1.0),
    ("0250", "", 2.0),
    ("0300", "", 1.0),
    ("0370", "", 0.6),
    ("0636", "", 1.0),
)
NURSERY_REVENUE = (("0170", 1.0), ("0171", 3.0), ("0172", 0.5), ("0173", 0.2))
NURSERY_EXTRA_LINES = (("0250", "", 1.0), ("0300", "", 1.5), ("0471", "92650", 0.6))
NF_ROOM_REVENUE = (("0100", 1.0),)
NF_EXTRA_LINES = (
    ("0250", "", 2.0),
    ("0420", "97110", 1.0),
    ("0430", "97535", 0.8),
    ("0440", "92507", 0.3),
    ("0270", "", 0.8),
    ("0300", "85025", 0.5),
)
INPATIENT_PROFESSIONAL_FIRST = (("99223", 2.0), ("99222", 1.0))
INPATIENT_PROFESSIONAL_NEXT = (("99232", 2.0), ("99233", 1.0), ("99231", 0.6))
DELIVERY_PROFESSIONAL = {"O80": ("59409", "59410", "59400"), "O82": ("59514", "59510")}
PRENATAL_EM = (("99213", 2.0), ("99214", 1.0))
PRENATAL_EXTRA_LINES = (
    ("", "76805", 0.5),
    ("", "76815", 0.4),
    ("", "81002", 1.0),
    ("", "36415", 0.6),
    ("", "87086", 0.4),
)
PREGNANCY_LOSS_HCPCS = ("59820", "59812")

# Mean lines beyond the first, by claim kind (Poisson).
EXTRA_LINES_MEAN = {
    "office": 1.0,
    "preventive": 1.6,
    "lab": 2.0,
    "outpatient": 0.6,
    "ed_facility": 2.4,
    "urgent": 0.6,
    "bh": 0.05,
    "inpatient": 5.0,
    "nf": 1.5,
    "prenatal": 0.8,
}
# Paid amount per line (lognormal median) by claim kind.
PAID_MEDIAN = {
    "office": 75.0,
    "preventive": 90.0,
    "lab": 18.0,
    "outpatient": 160.0,
    "ed_facility": 420.0,
    "ed_professional": 110.0,
    "urgent": 85.0,
    "bh": 95.0,
    "crisis": 140.0,
    "inpatient": 2400.0,
    "inpatient_professional": 95.0,
    "nf": 1800.0,
    "prenatal": 80.0,
    "delivery_professional": 900.0,
    "hospice": 190.0,  # a day of routine home care (revenue 0651)
}

# --- pharmacy --------------------------------------------------------------------------

# NDC-shaped codes (11 digits, labeler-product-package) of common generics. They have the
# shape of real NDCs; no rule reads the pharmacy feed, so none is checked against a
# product list.
NDC_CODES: tuple[tuple[str, float], ...] = (
    ("00093105801", 2.0),
    ("68180051301", 2.0),
    ("00378018077", 1.5),
    ("16729000417", 1.5),
    ("00904629161", 1.0),
    ("60505257808", 1.2),
    ("00093715598", 1.0),
    ("59746038310", 1.0),
    ("00603388721", 0.8),
    ("00054327099", 0.6),
    ("65862015601", 1.0),
    ("43547035710", 1.0),
    ("00173068220", 1.2),
    ("49483060710", 0.8),
    ("31722070530", 1.0),
    ("00781226101", 0.8),
    ("68462039701", 0.6),
    ("69097012405", 0.8),
    ("00615854939", 0.5),
    ("50090348400", 0.5),
)
DAYS_SUPPLY: tuple[tuple[int, float], ...] = (
    (30, 0.7),
    (90, 0.15),
    (7, 0.05),
    (10, 0.06),
    (14, 0.04),
)

# --- partner feeds ---------------------------------------------------------------------

INCARCERATION_SHARE = 0.01
INCARCERATION_FACILITIES_ADULT: tuple[tuple[str, float], ...] = (
    ("county_jail", 0.7),
    ("state_prison", 0.22),
    ("other", 0.08),
)
INCARCERATION_SOURCES = {
    "county_jail": "county sheriff",
    "state_prison": "CDCR",
    "youth_correctional": "county probation",
    "other": "county probation",
}
STILL_IN_CUSTODY_SHARE = 0.12
BOOKING_MISSING_SHARE = 0.05
CHILD_WELFARE_SHARE = 0.03
CHILD_WELFARE_STATUSES: tuple[tuple[str, float], ...] = (
    ("foster_care", 0.45),
    ("adoption_assistance", 0.2),
    ("family_maintenance", 0.35),
)
AGED_OUT_SHARE = 0.01  # of members 18-25
CCS_SHARE = 0.02
CCS_PROGRAMS: tuple[tuple[str, float], ...] = (("CCS", 0.8), ("CCS_WCM", 0.2))
# CCS eligible condition and the diagnosis the child's claims carry for it.
CCS_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("sickle cell disease", "D571"),
    ("cystic fibrosis", "E840"),
    ("cerebral palsy", "G809"),
    ("congenital heart disease", "Q210"),
    ("hemophilia", "D66"),
    ("type 1 diabetes", "E109"),
    ("acute lymphoblastic leukemia", "C9100"),
    ("epilepsy", "G40909"),
)
HOMELESSNESS_SHARE = 0.02
HOMELESS_PROJECTS: tuple[tuple[str, str, str, float], ...] = (
    ("emergency shelter", "emergency shelter", "HMIS", 0.35),
    ("street outreach", "place not meant for habitation", "HMIS", 0.25),
    ("street medicine", "place not meant for habitation", "street medicine", 0.15),
    ("transitional housing", "transitional housing", "HMIS", 0.1),
    ("rapid re-housing", "staying with family temporarily", "HMIS", 0.15),
)
HOMELESS_OPEN_SHARE = 0.3
NF_ASSESSMENT_SHARE = 0.01  # of members 50+
NF_RESIDENT_SHARE = 0.6
NF_ASSESSMENT_SAME_DAY_SHARE = 0.1  # members with two assessments on their latest date
# Programs that duplicate ECM (program_enrollment; docs/POPULATIONS.md, "Exclusions") and
# SMHS targeted case management, which runs alongside ECM and never excludes: a share of
# base members, each in one program drawn by weight among those the member may be in
# (at least `min_age`; a dual only, for D-SNP). Programs are written as a plan's systems
# spell them (upper case, or the rules file's aliases: "D-SNP", "SMHS TCM").
PROGRAM_ENROLLMENT_SHARE = 0.03
PROGRAMS: tuple[tuple[str, float, int, bool, str], ...] = (
    # (program as delivered, weight, min_age, dual only, source)
    ("CCM", 0.28, 18, False, "plan care management platform"),
    ("D-SNP", 0.5, 21, True, "CMS MARx enrollment"),
    ("SMHS TCM", 0.15, 0, False, "county mental health plan"),
    ("hospice", 0.12, 18, False, "hospice notice of election"),
    ("PACE", 0.05, 55, False, "PACE organization roster"),
    ("cct", 0.03, 21, False, "DHCS CCT roster"),
    ("waiver_hcba", 0.04, 21, False, "DHCS waiver roster"),
    ("waiver_mssp", 0.03, 65, False, "DHCS waiver roster"),
    ("waiver_alw", 0.02, 21, False, "DHCS waiver roster"),
    ("waiver_hcbs_dd", 0.04, 0, False, "regional center"),
    ("waiver_mcwp", 0.01, 21, False, "DHCS waiver roster"),
    ("waiver_sdp", 0.03, 3, False, "regional center"),
)
PROGRAM_OLDER_WEIGHT = 4.0  # hospice, PACE: members 65 and older, this many times likelier
PROGRAM_ENDED_SHARE = 0.2  # a span ended before the end date
PROGRAM_FUTURE_END_SHARE = 0.1  # a span with an end date after it
# Hospice from claims: most hospice enrollees' stays are billed (monthly, bill type 81x;
# 82x hospital based), and a few members 65 and older have hospice claims and no
# program_enrollment row (some ended long enough before the end date not to exclude).
HOSPICE_BILLED_SHARE = 0.7
HOSPICE_START_DAYS = 240  # a hospice enrollment started at most this many days before
HOSPICE_CLAIMS_ONLY_SHARE = 0.004  # of base members 65 and older
HOSPICE_HOSPITAL_BASED_SHARE = 0.15
HOSPICE_DX: tuple[tuple[str, float], ...] = (
    ("C3490", 0.25),  # lung cancer
    ("G309", 0.2),  # Alzheimer's disease
    ("I509", 0.2),  # heart failure
    ("J449", 0.15),  # COPD
    ("C189", 0.1),  # colon cancer
    ("G1221", 0.1),  # ALS
)
PROVIDER_ASSIGNED_SHARE = 0.95
PROVIDER_TWO_SPANS_SHARE = 0.06
# Every PCP_ECM_EVERY-th member has their office visits at an ECM provider's clinic (one of
# the roster's NPIs: claims.office_renderer).
PCP_ECM_EVERY = 4
# The ecm_provider roster (feeds.ecm_provider_roster): the i-th provider of ECM_PROVIDERS
# serves the i-th county by members, the populations ROSTER_POPULATIONS[i % len] ('' =
# every population) and takes the members its spans hold at the end of the history plus
# ROSTER_ROOM[i % len] per 10,000 members (0: full, so its county's members get none).
ROSTER_POPULATIONS = (
    "",
    "HOMELESS_ADULT;SMI_SUD_ADULT",
    "",
    "HIGH_UTIL_ADULT;HOMELESS_ADULT;SMI_SUD_ADULT",
)
ROSTER_ROOM = (6, 0, 4, 10, 0, 8)
ECM_PROVIDERS: tuple[tuple[str, float], ...] = (
    ("Eastside Community Care ECM", 1.5),
    ("Valley Health Navigators", 1.2),
    ("Harbor Street Medicine", 0.8),
    ("Golden State Care Coordination", 1.5),
    ("Sierra Family Services", 1.0),
    ("Bayview Recovery Partners", 0.8),
    ("Central Valley Promotoras", 1.0),
    ("Coastal Housing and Health", 0.7),
    ("Mission Wellness Collaborative", 1.0),
    ("Foothill Senior Connections", 0.6),
    ("Inland Youth and Family ECM", 0.9),
    ("Delta Reentry Health", 0.5),
)
# Sizes of the NPI pools (deterministic, valid check digits).
HOSPITALS = 40
NURSING_FACILITIES = 25
CLINICIANS = 600
LABS = 8

# --- what ECM providers send back (providers.py, the provider simulator) ---------------

# What becomes of an open referral (a member listed in a provider's member information
# file whose loop no answer of that provider has closed) in the month after the run that
# listed it, and each outcome's share (they add up to 1). Each says what the provider's
# files hold for the member (loop.md, section 3, names the state each one gives):
#   no_answer        nothing: the referral stays `referred`
#   outreach         unsuccessful attempts only (OTF), no RTF row: `outreach`
#   reached          attempts, the last successful, no RTF row yet: `reached`
#   pending          attempts, the last successful; RTF `pending`
#   enrolled         attempts, the last successful; RTF `enrolled` from a few days later
#   declined         attempts, the last successful; RTF `declined`
#   unable_to_reach  several attempts, none successful; RTF `unable_to_reach`
#   not_eligible     RTF `not_eligible`, no attempt (the provider's own check)
REFERRAL_OUTCOMES: tuple[tuple[str, float], ...] = (
    ("no_answer", 0.10),
    ("outreach", 0.15),
    ("reached", 0.08),
    ("pending", 0.17),
    ("enrolled", 0.30),
    ("declined", 0.08),
    ("unable_to_reach", 0.10),
    ("not_eligible", 0.02),
)
# Each month, the share of the members enrolled with a provider that it discontinues, and
# the weights of DHCS's discontinuation reason codes it gives.
DISCONTINUED_SHARE = 0.06
DISCONTINUATION_REASONS: tuple[tuple[str, float], ...] = (
    ("SC", 0.25),
    ("WM", 0.20),
    ("DP", 0.15),
    ("UE", 0.15),
    ("NE", 0.08),
    ("OH", 0.07),
    ("CAP", 0.03),
    ("OTH", 0.07),
)
# Outreach attempts in a month (fewest, most) for a referral being worked, most for one
# closed as unable to reach; how, and how long (minutes, fewest and most).
OUTREACH_ATTEMPTS = (1, 3)
UNABLE_TO_REACH_ATTEMPTS = (2, 4)
OUTREACH_METHODS: tuple[tuple[str, float], ...] = (
    ("phone", 0.50),
    ("in_person", 0.20),
    ("text", 0.12),
    ("video", 0.06),
    ("mail", 0.07),
    ("email", 0.05),
)
OUTREACH_MINUTES = (5, 60)
# An enrolled member's encounters in a month (0 .. most): in person, telephonic/video.
IN_PERSON_ENCOUNTERS_MOST = 3
TELEPHONIC_ENCOUNTERS_MOST = 4
# Days from an outreach attempt that reaches the member to the enrollment start (0 .. most).
ENROLLMENT_START_DAYS_MOST = 5
# Days after the as-of date on which a provider produces its files (fewest, most; never
# past the end of the next month); its attempts fall between.
PRODUCTION_DAYS = (15, 25)
# One of the template's columns the contract does not name (kept in the warehouse).
ACUITY_LEVELS: tuple[tuple[str, float], ...] = (("High", 0.3), ("Medium", 0.45), ("Low", 0.25))

# How each ECM provider writes its files: the i-th provider of ECM_PROVIDERS (an NPI of
# the plan's own: by its number) writes in PROVIDER_FILE_STYLES[i % 4]: its format, csv or
# xlsx (a workbook: dates as date cells); its headers, "dhcs" (DHCS's template: the
# contract's first alias of each column) or "ecm" (our column names); the table of
# PROVIDER_SPELLINGS its coded values are written in ("" = as allowed); the forms
# (strftime) of its reporting period and, in a text file, of its dates.
PROVIDER_FILE_STYLES: tuple[tuple[str, str, str, str, str], ...] = (
    # format, headers, spelling, period, dates
    ("csv", "dhcs", "words", "%m/%Y", "%m/%d/%Y"),
    ("csv", "ecm", "", "%Y-%m", "%Y-%m-%d"),
    ("xlsx", "dhcs", "capitalised", "%Y%m", ""),
    ("csv", "dhcs", "codes", "%Y-%m", "%Y-%m-%d"),
)
# A provider's own spellings of the coded values, per column (allowed value -> as
# written); values not listed are written as allowed. Each is covered by the packaged
# rules file's [loop.aliases.<column>] tables or is an allowed value in another case
# (tests/test_providers.py checks it), so every row stages.
PROVIDER_SPELLINGS: dict[str, dict[str, dict[str, str]]] = {
    "words": {
        "ecm_status": {
            "enrolled": "Enrolled - Active",
            "pending": "In Progress",
            "declined": "Member Declined",
            "unable_to_reach": "Unable to Reach",
            "discontinued": "Disenrolled",
            "not_eligible": "Not Eligible",
        },
        "discontinuation_reason_code": {
            "WM": "Well Managed",
            "SC": "Successfully Completed",
            "DP": "Declined",
            "UE": "Unable to Engage",
            "NE": "Not Enrolled in Medi-Cal",
            "OH": "Eligibility on Hold",
            "CAP": "Provider at Capacity",
            "OTH": "Other",
        },
        "referral_status": {"declined": "Rejected"},
        "referral_closure_reason": {
            "services_received": "Services Received",
            "declined": "Member Declined",
            "unable_to_reach": "Unable to Reach",
            "not_eligible": "Not Eligible",
        },
        "method": {
            "in_person": "In Person",
            "phone": "Telephone",
            "video": "Video Call",
            "text": "Text Message",
            "email": "E-mail",
            "mail": "Letter",
        },
        "successful": {"Y": "Successful", "N": "Unsuccessful"},
    },
    "capitalised": {
        "ecm_status": {
            "enrolled": "Enrolled",
            "pending": "Pending",
            "declined": "Declined",
            "unable_to_reach": "Unable_To_Reach",
            "discontinued": "Discontinued",
            "not_eligible": "Not_Eligible",
        },
        "discontinuation_reason_code": {"WM": "wm", "SC": "sc", "DP": "dp", "UE": "ue"},
        "referral_status": {"open": "Open", "accepted": "Accepted", "closed": "Closed"},
        "method": {"in_person": "In-Person", "phone": "Phone", "text": "Text"},
        "successful": {"Y": "Yes", "N": "No"},
    },
    "codes": {
        "ecm_status": {"enrolled": "E", "pending": "P", "unable_to_reach": "UTR"},
        "referral_status": {"open": "O", "accepted": "A", "closed": "C"},
        "method": {"in_person": "Face to Face", "phone": "Phone Call", "text": "SMS"},
    },
}
HOSPICES = 6
