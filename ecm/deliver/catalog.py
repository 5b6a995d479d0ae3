"""The output catalog: one declaration per file a command writes under `--out`.

Each `Output` says the file's name (a path under `--out`, `<placeholders>` where a part
varies: `providers/<provider_npi>/…`), its grain (what one row is, or what the file
describes), the command that writes it, the function that writes it, and for a data file
its columns with their types and the key its grain is unique on. Two commands write
files under `--out`: `ecm run` (and `ecm demo`, the scheduled flow) and `ecm quarterly`.
Read by:

- the writers: `ecm.deliver.write.write_run_outputs` calls the writers of the `ecm run`
  files in this order; `ecm quarterly` (ecm.quarterly.build, a stage above this one, so
  its files declare no writer here) writes its own; both refuse a file no declaration of
  their command names (`check_declared`);
- the `manifest.json` of each: its `files` give the rows of a data file, and only of one;
- the tests: every file declared is written and nothing else; each data file has the
  columns and types declared and is unique on its grain key; `docs/OUTPUTS.md` lists the
  same files, grains and columns (`tests/test_output_catalog.py`, and
  `tests/test_quarterly.py` for `ecm quarterly`'s).

Adding an output is one `Output` here and its writer (ecm.deliver.writers for `ecm run`),
and its section in docs/OUTPUTS.md, which the tests hold to this catalog.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ecm.deliver import writers
from ecm.deliver.writers import RunWriting
from ecm.run.safety import MANIFEST
from transforms.loop import ASSIGNMENT_STATUSES, REVIEW_REASONS, STATES
from transforms.proposals import PROPOSAL_REASONS

RUN = "ecm run"
"""The command of the monthly run (and of `ecm demo` and the scheduled flow)."""
QUARTERLY = "ecm quarterly"
"""The command of the DHCS quarterly member file (ecm.quarterly)."""

TYPES = ("text", "date", "integer", "decimal", "boolean")
"""A column's type, in the words docs/OUTPUTS.md uses: text (a string), date, integer,
decimal (a float), boolean."""

PLACEHOLDERS: dict[str, str] = {
    # in file names
    "provider_npi": r"[0-9]{10}|unassigned",
    "YYYYMM": r"[0-9]{6}",
    "plan_code": r"[A-Za-z0-9_-]{1,20}",
    "YYYY": r"[0-9]{4}",
    "n": r"[1-4]",
    # in column names
    "criterion": r"[a-z0-9_]+",
    "code": r"[A-Z0-9_]+",
    # a name of the rules file's [quarterly.flags] (any text)
    "flag": r".+",
}
"""What a `<placeholder>` in a file or column name stands for (a regular expression)."""


def _pattern(name: str) -> re.Pattern[str]:
    parts = re.split(r"<([A-Za-z_]+)>", name)
    return re.compile(
        "".join(
            f"(?:{PLACEHOLDERS[part]})" if i % 2 else re.escape(part)
            for i, part in enumerate(parts)
        )
    )


@dataclass(frozen=True)
class Column:
    """A data file's column: its name (or a `<placeholder>` pattern standing for one
    column per criterion or population code), its type, the values it may hold when they
    are a closed list, and whether it may be empty (null)."""

    name: str
    type: str
    values: tuple[str, ...] = ()
    may_be_empty: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {TYPES}")

    @property
    def is_pattern(self) -> bool:
        return "<" in self.name

    def matches(self, column: str) -> bool:
        return _pattern(self.name).fullmatch(column) is not None

    @property
    def described(self) -> str:
        """The type as docs/OUTPUTS.md's column tables write it: `text`, `date, may be
        empty`, `` `new` / `ended` ``."""
        kind = " / ".join(f"`{v}`" for v in self.values) if self.values else self.type
        return f"{kind}, may be empty" if self.may_be_empty else kind


Writer = Callable[[RunWriting, "Output"], None]


@dataclass(frozen=True)
class Output:
    """One file a command writes under `--out`. `columns` and `grain_key` only for a data
    file (rows, byte-identical on a re-run); `writer` writes it (a writer that writes
    several files is named by each; None for a command above this stage, which writes
    its files itself: ecm quarterly)."""

    name: str
    grain: str
    writer: Writer | None
    command: str = RUN
    columns: tuple[Column, ...] = ()
    grain_key: tuple[str, ...] = ()

    @property
    def is_data(self) -> bool:
        return bool(self.columns)

    def matches(self, path: str) -> bool:
        """Whether `path` (relative to `--out`, with `/`) is this output."""
        return _pattern(self.name).fullmatch(path) is not None

    def column_of(self, name: str) -> Column | None:
        """The declared column `name` is: by its name, else by a pattern."""
        named = [c for c in self.columns if not c.is_pattern and c.name == name]
        return (named or [c for c in self.columns if c.is_pattern and c.matches(name)] or [None])[0]


def _text(*names: str, may_be_empty: bool = False) -> tuple[Column, ...]:
    return tuple(Column(n, "text", may_be_empty=may_be_empty) for n in names)


def _integer(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, "integer") for n in names)


AGE_GROUP = Column("age_group", "text", values=("adult", "child_youth"))

ASSIGNMENT_COLUMNS = (
    *_text("member_id", "pof_code"),
    AGE_GROUP,
    Column("as_of_date", "date"),
    Column("qualifying_date", "date"),
    Column("provider_npi", "text", may_be_empty=True),
    *_text("evidence_summary", "rules_version"),
    # The programs excluding the member on the as-of date, sorted, `;`-joined ('' if none).
    Column("excluded_by", "text"),
    Column("proposed_provider_npi", "text", may_be_empty=True),
    Column("proposal_reason", "text", values=PROPOSAL_REASONS, may_be_empty=True),
)
MEMBER_AND_POPULATION = ("member_id", "pof_code")

MIF_COLUMNS = (
    *_text("MCP Identifier", "MCP Name", "Member CIN"),
    *_text("Member Last Name", "Member First Name", may_be_empty=True),
    Column("Member Date of Birth", "date"),
    *_text(
        "Member Gender",
        "Member Residential Address",
        "Member Residential City",
        "Member Residential State",
        "Member Residential Zip",
        "Member Phone Number",
        "Member Preferred Language",
        may_be_empty=True,
    ),
    Column("Member Homelessness Indicator", "text", values=("Y", "N")),
    Column("Member Dually Enrolled in Medicare", "text", values=("Y", "N")),
    Column("<code>", "text", values=("1", "0")),
    Column("<code> Qualifying Date", "date", may_be_empty=True),
    Column("Evidence Summary", "text"),
    Column("Assignment Status", "text", values=ASSIGNMENT_STATUSES),
    *_text("ECM Provider Name", "ECM Provider NPI", "Proposed ECM Provider NPI", may_be_empty=True),
    Column("Proposal Reason", "text", values=PROPOSAL_REASONS, may_be_empty=True),
    Column("MIF Reporting Period", "text"),
)
"""The member information file's columns, in order; `<code>` stands for each of the rules
file's population codes, in code order (transforms.member_information.mif_columns)."""

MIF = "providers/<provider_npi>/ECM_MIF_<provider_npi>_<YYYYMM>.txt"
REPORT = "report.html"
SUMMARY = "summary.json"

QUARTERLY_FILE = "ECM_Quarterly_<plan_code>_<YYYY>Q<n>"
QUARTERLY_GRAIN = "one row per member × merged ECM enrollment span touching the quarter"
QUARTERLY_COLUMNS = (
    *_text("Plan Name", "Plan Code"),
    Column("County", "text", may_be_empty=True),
    *_text("Reporting Period", "Member CIN"),
    *_text("Member Last Name", "Member First Name", may_be_empty=True),
    Column("Member Date of Birth", "date", may_be_empty=True),
    Column("<flag>", "text", values=("1", "0")),
    Column("ECM Benefit Start Date", "date"),
    Column("ECM Benefit End Date", "date", may_be_empty=True),
    Column("ECM Discontinuation Reason", "text", may_be_empty=True),
    Column("Member's ECM Provider NPI", "text"),
    *_integer(
        "Number of In-Person ECM Encounters", "Number of Telephonic/Telehealth ECM Encounters"
    ),
)
"""The quarterly file's columns, in order (loop.md, section 5); `<flag>` stands for each
name of the rules file's `[quarterly.flags]`, in its order. Dates are written MM/DD/YYYY."""
QUARTERLY_KEY = ("Member CIN", "ECM Benefit Start Date")

OUTPUTS: tuple[Output, ...] = (
    Output(
        "assignments.parquet",
        "one row per member × population",
        writers.write_assignments,
        columns=ASSIGNMENT_COLUMNS,
        grain_key=MEMBER_AND_POPULATION,
    ),
    Output(
        "assignments.csv",
        "one row per member × population",
        writers.write_assignments_csv,
        columns=ASSIGNMENT_COLUMNS,
        grain_key=MEMBER_AND_POPULATION,
    ),
    Output(
        "evidence.parquet",
        "one row per member × population × supporting fact",
        writers.write_evidence,
        columns=(
            *_text("member_id", "pof_code", "criterion", "source_feed", "source_key"),
            Column("event_date", "date"),
            Column("code", "text", may_be_empty=True),
        ),
        grain_key=(*MEMBER_AND_POPULATION, "criterion", "source_key", "event_date", "code"),
    ),
    Output(
        "member_metrics.parquet",
        "one row per member enrolled and alive on the as-of date",
        writers.write_member_metrics,
        columns=(
            Column("member_id", "text"),
            Column("age", "integer"),
            AGE_GROUP,
            Column("ed_visits_12m", "integer"),
            Column("avoidable_ed_visits_12m", "decimal"),
            *_integer(
                "acute_stays_12m",
                "nursing_facility_stays_12m",
                "unplanned_stays_12m",
                "avoidable_unplanned_stays_12m",
                "<criterion>_dates_12m",
                "urgent_care_visits_12m",
                "office_visits_12m",
                "psychiatric_stays_12m",
                "mh_sud_ed_visits_12m",
                "mh_sud_acute_stays_12m",
                "complex_social_factor_dates_12m",
                "homelessness_evidence_dates_12m",
                "mh_sud_crisis_services_12m",
                "nursing_facility_discharges_to_community_12m",
                "incarceration_release_dates_12m",
                "<criterion>_dates_24m",
            ),
            Column("has_csf", "boolean"),
            Column("has_homelessness_evidence", "boolean"),
        ),
        grain_key=("member_id",),
    ),
    Output(
        "exclusions.parquet",
        "one row per member holding a population × program × source that excludes them",
        writers.write_exclusions,
        columns=(
            *_text("member_id", "program"),
            Column("source_feed", "text", values=("program_enrollment", "medical_claim")),
            Column("source_key", "text"),
            Column("start_date", "date"),
            Column("end_date", "date", may_be_empty=True),
        ),
        grain_key=("member_id", "program", "source_feed", "source_key"),
    ),
    Output(
        "quarantine.parquet",
        "one row per rejected input row",
        writers.write_quarantine,
        columns=(
            *_text("feed", "source_file"),
            Column("line", "integer"),
            *_text("rule", "detail", "raw_row"),
        ),
        grain_key=("feed", "source_file", "line"),
    ),
    Output(
        "changes.parquet",
        "one row per member × population new or ended since the previous run",
        writers.write_changes,
        columns=(
            *_text("member_id", "pof_code"),
            Column("change", "text", values=("new", "ended")),
            Column("previous_as_of_date", "date", may_be_empty=True),
        ),
        grain_key=MEMBER_AND_POPULATION,
    ),
    Output(
        "referrals.parquet",
        "one row per member × provider referral known on the as-of date",
        writers.write_referrals,
        columns=(
            *_text("member_id", "provider_npi"),
            Column("opened_date", "date"),
            Column("state", "text", values=STATES),
            Column("state_date", "date", may_be_empty=True),
            Column("enrollment_start_date", "date", may_be_empty=True),
            Column("enrollment_end_date", "date", may_be_empty=True),
            *_text("discontinuation_reason_code", "closure_reason", may_be_empty=True),
            Column("outreach_attempts", "integer"),
            Column("last_outreach_date", "date", may_be_empty=True),
            Column("days_open", "integer", may_be_empty=True),
            Column("is_overdue", "boolean"),
        ),
        grain_key=("member_id", "provider_npi"),
    ),
    Output(
        "review.parquet",
        "one row per member enrolled in ECM on the as-of date whose situation changed",
        writers.write_review,
        columns=(
            Column("member_id", "text"),
            Column("provider_npi", "text"),
            Column("reason", "text", values=REVIEW_REASONS),
            *_text("lost_codes", "programs", may_be_empty=True),
            Column("enrollment_start_date", "date", may_be_empty=True),
        ),
        grain_key=("member_id",),
    ),
    Output(
        MIF,
        "one row per member holding a population, not excluded nor left out by the "
        "referral loop, in the folder of the member's ECM provider (`unassigned/` for "
        "members with none)",
        writers.write_member_information,
        columns=MIF_COLUMNS,
        grain_key=("Member CIN",),
    ),
    Output(
        "providers/<provider_npi>/manifest.json",
        "the provider's member information file",
        writers.write_member_information,
    ),
    Output(SUMMARY, "the run", writers.write_summary),
    Output(REPORT, "the run: one self-contained page", writers.write_report),
    Output(MANIFEST, "the run: every file it wrote and read", writers.write_manifest),
    Output(
        f"{QUARTERLY_FILE}.csv",
        QUARTERLY_GRAIN,
        None,
        QUARTERLY,
        QUARTERLY_COLUMNS,
        QUARTERLY_KEY,
    ),
    Output(
        f"{QUARTERLY_FILE}.xlsx",
        QUARTERLY_GRAIN,
        None,
        QUARTERLY,
        QUARTERLY_COLUMNS,
        QUARTERLY_KEY,
    ),
    Output(MANIFEST, "the quarterly file: every file written and the runs read", None, QUARTERLY),
)


def outputs_of(command: str) -> tuple[Output, ...]:
    """The files `command` writes, in the order it writes them."""
    return tuple(o for o in OUTPUTS if o.command == command)


def output_of(path: str, command: str = RUN) -> Output | None:
    """The declaration of the file at `path` (relative to `--out`, with `/`) that
    `command` writes, or None when none names it."""
    return next((o for o in outputs_of(command) if o.matches(path)), None)
