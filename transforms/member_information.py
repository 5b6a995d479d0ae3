"""The member information file (MIF) of each ECM provider: pure transforms, frames in,
frame out (ecm.deliver.member_files does the I/O).

- `member_information`: one row per member holding at least one population, in the
  DHCS-style MIF columns (outputs.md, "The member information file"), with the folder
  (`provider_npi`, or `unassigned`) it is written to. The population columns come from
  the rules file's populations, never from a list here.
- `one_line_text`: the rows as the file holds them: one record per line whatever reads
  it (every line break inside a value becomes one space), and a free-text value that
  starts with formula text prefixed with `'` so that a spreadsheet shows it as text;
  with the count of values each changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from transforms.members import enrolled_members, providers_on
from transforms.proposals import PROPOSAL_COLUMNS

UNASSIGNED = "unassigned"
# The routing column of `member_information`: the provider folder a row goes to.
FOLDER = "folder"

# The member's id and where their referral stands: the MIF columns `ecm explain` reads.
MEMBER_CIN = "Member CIN"
ASSIGNMENT_STATUS = "Assignment Status"
# The MIF columns before the population columns, and after them (outputs.md).
LEADING_COLUMNS = (
    "MCP Identifier",
    "MCP Name",
    MEMBER_CIN,
    "Member Last Name",
    "Member First Name",
    "Member Date of Birth",
    "Member Gender",
    "Member Residential Address",
    "Member Residential City",
    "Member Residential State",
    "Member Residential Zip",
    "Member Phone Number",
    "Member Preferred Language",
    "Member Homelessness Indicator",
    "Member Dually Enrolled in Medicare",
)
TRAILING_COLUMNS = (
    "Evidence Summary",
    ASSIGNMENT_STATUS,
    "ECM Provider Name",
    "ECM Provider NPI",
    "Proposed ECM Provider NPI",
    "Proposal Reason",
    "MIF Reporting Period",
)
# Eligibility columns carried to the file, by MIF column.
CONTACT_COLUMNS = {
    "Member Last Name": "last_name",
    "Member First Name": "first_name",
    "Member Gender": "gender",
    "Member Residential Address": "address",
    "Member Residential City": "city",
    "Member Residential State": "state",
    "Member Residential Zip": "zip_code",
    "Member Phone Number": "phone",
    "Member Preferred Language": "preferred_language",
}


# The free-text MIF columns (outputs.md: names, address, city, provider name): the only
# ones whose values are prefixed with `'` when they start with formula text. The other
# columns are codes, dates, flags or numbers where a leading `+` or `-` is data (a phone
# number `+1510…`), and are written as delivered.
FREE_TEXT_COLUMNS = (
    "Member Last Name",
    "Member First Name",
    "Member Residential Address",
    "Member Residential City",
    "ECM Provider Name",
)
# A line or page break inside a value: what str.splitlines() splits on (CR, LF, VT, FF,
# the file/group/record separators, NEL, LINE and PARAGRAPH SEPARATOR); a CRLF pair is
# one break. Each becomes one space.
LINE_BREAK = r"\r\n|[\r\n\x0B\x0C\x1C\x1D\x1E\x{85}\x{2028}\x{2029}]"
# Formula text: `=`, `+`, `-` or `@` first, or after spaces and tabs (spreadsheets may run
# ` =1+1` and `\t=1+1` too).
FORMULA_START = r"^[ \t]*[=+\-@]"
SHOWN_AS_TEXT = "'"
# The columns `one_line_text` adds: per row, how many values it changed.
LINE_BREAKS_REPLACED = "values_with_line_breaks_replaced"
PREFIXED_AS_TEXT = "values_prefixed_as_text"


@dataclass(frozen=True)
class Plan:
    """The plan's identity and its dual status codes (the rules file's `[plan]`)."""

    mcp_identifier: str
    mcp_name: str
    dual_status_codes: tuple[str, ...]


def qualifying_date_column(code: str) -> str:
    return f"{code} Qualifying Date"


def mif_columns(population_codes: Sequence[str]) -> list[str]:
    """Every MIF column, in order, for these population codes."""
    return [
        *LEADING_COLUMNS,
        *population_codes,
        *(qualifying_date_column(c) for c in population_codes),
        *TRAILING_COLUMNS,
    ]


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


def _dual_code(column: str) -> pl.Expr:
    code = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(code.str.len_chars() == 1).then(pl.lit("0") + code).otherwise(code)


def member_information(
    assignments: pl.LazyFrame,
    eligibility: pl.LazyFrame,
    provider_assignment: pl.LazyFrame,
    metrics: pl.LazyFrame,
    listing: pl.LazyFrame,
    *,
    as_of: dt.date,
    population_codes: Sequence[str],
    plan: Plan,
    adult_min_age: int,
    roster: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The MIF rows of every member holding at least one population that the referral
    loop lists.

    Grain: one row per member of `assignments` with an Assignment Status in `listing`
    (transforms.loop.assignment_statuses: member_id, assignment_status; a member left out
    or excluded has none, and no row), sorted by member_id; the columns of
    `mif_columns(population_codes)`, all text, then `folder` (the provider_npi, or
    `unassigned` when no provider span covers `as_of`).

    - contact columns: the eligibility span covering `as_of` with the latest start (the
      span `enrolled_members` reads the member's demographics from);
    - Homelessness Indicator: `Y` when member_metrics' has_homelessness_evidence;
    - Dually Enrolled: `Y` when that span's dual_status_code is one of the plan's;
    - population columns `1`/`0`, `<code> Qualifying Date` (YYYY-MM-DD, empty when 0);
    - Evidence Summary: `CODE: summary` of each population held, in code order, `; `-joined;
    - Assignment Status: the listing's (`new`, `continuing`, `enrolled`, `re-referral`);
    - the provider the listing lists the member with: the provider of `as_of`
      (providers_on: latest start_date, then smallest NPI) with the span's provider name,
      or, with `[assignment] auto_assign`, the one proposed to a member with no span,
      named by `roster` (the ecm_provider roster: provider_npi, provider_name; None or no
      row for the provider: no name; a provider on it twice: the first name in order);
    - Proposed ECM Provider NPI, Proposal Reason: the assignments' proposal
      (transforms.proposals), empty when none.
    """
    codes = list(population_codes)
    status = listing.filter(pl.col("assignment_status").is_not_null()).select(
        "member_id", "assignment_status", pl.col("provider_npi").alias("_listed_npi")
    )
    names = assignments.collect_schema().names()
    proposal = assignments.select(
        "member_id",
        *(
            (pl.col(c) if c in names else pl.lit(None, dtype=pl.String)).alias(c)
            for c in PROPOSAL_COLUMNS
        ),
    ).unique(subset="member_id", keep="first")
    held = assignments.select("member_id", "pof_code", "qualifying_date", "evidence_summary").join(
        status, on="member_id", how="semi"
    )
    members = held.select("member_id").unique()
    span = enrolled_members(
        eligibility.join(members, on="member_id", how="semi"), as_of, adult_min_age
    )
    wide = held.group_by("member_id").agg(
        [(pl.col("pof_code") == code).any().alias(code) for code in codes]
        + [
            pl.col("qualifying_date")
            .filter(pl.col("pof_code") == code)
            .first()
            .alias(qualifying_date_column(code))
            for code in codes
        ]
        + [
            pl.concat_str(pl.col("pof_code"), pl.lit(": "), pl.col("evidence_summary"))
            .fill_null(pl.col("pof_code"))
            .sort_by("pof_code")
            .str.join("; ")
            .alias("Evidence Summary"),
        ]
    )
    provider = providers_on(provider_assignment.join(members, on="member_id", how="semi"), as_of)
    roster_names = (
        pl.LazyFrame(schema={"provider_npi": pl.String, "provider_name": pl.String})
        if roster is None
        else roster.select("provider_npi", "provider_name")
    )
    roster_names = (
        roster_names.filter(pl.col("provider_npi").is_not_null())
        .sort("provider_npi", "provider_name", nulls_last=True)
        .unique(subset="provider_npi", keep="first", maintain_order=True)
        .select(
            pl.col("provider_npi").cast(pl.String).alias("_listed_npi"),
            pl.col("provider_name").cast(pl.String).alias("_roster_name"),
        )
    )
    homeless = metrics.select("member_id", "has_homelessness_evidence")
    dual_codes = list(plan.dual_status_codes)

    def flag(expr: pl.Expr) -> pl.Expr:
        return pl.when(expr.fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit("N"))

    frame = (
        wide.join(span, on="member_id", how="left")
        .join(status, on="member_id", how="left")
        .join(provider, on="member_id", how="left")
        .join(homeless, on="member_id", how="left")
        .join(proposal, on="member_id", how="left")
        .join(roster_names, on="_listed_npi", how="left")
        .with_columns(
            # The provider the loop lists the member with: the span's, or, auto-assigned,
            # the one proposed, named by the roster (the member has no span to name it).
            pl.when(
                pl.col("_listed_npi").is_null() | (pl.col("_listed_npi") == pl.col("provider_npi"))
            )
            .then(pl.col("provider_name"))
            .otherwise(pl.col("_roster_name"))
            .alias("provider_name"),
            pl.coalesce("_listed_npi", "provider_npi").alias("provider_npi"),
        )
    )
    columns = [
        pl.lit(plan.mcp_identifier).alias("MCP Identifier"),
        pl.lit(plan.mcp_name).alias("MCP Name"),
        pl.col("member_id").alias(MEMBER_CIN),
        *(_text(source).alias(name) for name, source in CONTACT_COLUMNS.items()),
        pl.col("birth_date").dt.strftime("%Y-%m-%d").alias("Member Date of Birth"),
        flag(pl.col("has_homelessness_evidence")).alias("Member Homelessness Indicator"),
        flag(_dual_code("dual_status_code").is_in(dual_codes)).alias(
            "Member Dually Enrolled in Medicare"
        ),
        *(
            pl.when(pl.col(code)).then(pl.lit("1")).otherwise(pl.lit("0")).alias(code)
            for code in codes
        ),
        *(
            pl.col(qualifying_date_column(c))
            .dt.strftime("%Y-%m-%d")
            .alias(qualifying_date_column(c))
            for c in codes
        ),
        pl.col("Evidence Summary"),
        pl.col("assignment_status").alias(ASSIGNMENT_STATUS),
        _text("provider_name").alias("ECM Provider Name"),
        _text("provider_npi").alias("ECM Provider NPI"),
        _text("proposed_provider_npi").alias("Proposed ECM Provider NPI"),
        _text("proposal_reason").alias("Proposal Reason"),
        pl.lit(as_of.strftime("%Y-%m")).alias("MIF Reporting Period"),
        pl.col("provider_npi").cast(pl.String).fill_null(UNASSIGNED).alias(FOLDER),
    ]
    order = [*mif_columns(codes), FOLDER]
    return frame.select(columns).select(order).sort(MEMBER_CIN)


def one_line_text(
    rows: pl.LazyFrame, free_text_columns: Sequence[str] = FREE_TEXT_COLUMNS
) -> pl.LazyFrame:
    """`rows` as the member information file holds them (outputs.md, "One record is one
    line, whatever reads it").

    Grain: that of `rows`, in its order and columns, then two counts per row:
    - every text column: each line break (`LINE_BREAK`) inside a value becomes one space;
      `values_with_line_breaks_replaced` counts the row's values that held one;
    - each of `free_text_columns` present: a value starting with formula text
      (`FORMULA_START`, after its breaks are replaced) is prefixed with `'`;
      `values_prefixed_as_text` counts them.
    Empty values stay empty; nothing else changes (quoting is the writer's).
    """
    schema = rows.collect_schema()
    text = [name for name, dtype in schema.items() if dtype == pl.String]
    free = [name for name in free_text_columns if name in text]
    one_line = {name: pl.col(name).str.replace_all(LINE_BREAK, " ") for name in text}
    is_formula = {name: one_line[name].str.contains(FORMULA_START) for name in free}

    def counted(flags: list[pl.Expr]) -> pl.Expr:
        if not flags:
            return pl.lit(0, dtype=pl.Int64)
        return pl.sum_horizontal(f.fill_null(False).cast(pl.Int64) for f in flags)

    return rows.with_columns(
        *(
            (
                pl.when(is_formula[name])
                .then(pl.lit(SHOWN_AS_TEXT) + one_line[name])
                .otherwise(one_line[name])
                if name in is_formula
                else one_line[name]
            ).alias(name)
            for name in text
        ),
        counted([pl.col(name).str.contains(LINE_BREAK) for name in text]).alias(
            LINE_BREAKS_REPLACED
        ),
        counted(list(is_formula.values())).alias(PREFIXED_AS_TEXT),
    )
