"""The ECM providers' answers to a run's member information files: the provider simulator.

`simulate_providers(run_dir, feed_dir)` reads the member information files (MIFs) a run
wrote (`run_dir/providers/<provider_npi>/ECM_MIF_<provider_npi>_<YYYYMM>.txt`,
docs/OUTPUTS.md) and writes what each ECM provider sends back in the month after the
run's as-of date D, as the next month's drops of the feed folder (docs/FEEDS.md):

- `provider_return/ECM_RTF_<provider_npi>_<YYYYMM>.csv|.xlsx`: the Return Transmission
  File, one row per member per provider for the MIF's reporting period (YYYYMM, D's
  month), produced PRODUCTION_DAYS after D;
- `outreach/ECM_OTF_<provider_npi>_<YYYYMM>.csv|.xlsx`: the Outreach Tracker File, one
  row per outreach attempt, dated after D and by the production date.

Whom a provider answers, and how (the shares: `AnswerShares`, defaults in palette.py):

- a member it was sent whose referral is open (no answer yet, or its latest RTF row
  `pending`): one outcome of `palette.REFERRAL_OUTCOMES` (outreach attempts, some
  unsuccessful, some reaching the member; enrolled with its enrollment start, pending,
  declined, unable to reach, not eligible; or nothing yet). A member its earlier drops
  say is enrolled with another provider is answered `not_eligible`;
- a member its earlier drops say is enrolled (no end date), whether or not this MIF lists
  them: enrolled again with the same start, or discontinued (`DISCONTINUED_SHARE`) with a
  date, an end date and a reason code; an enrolled member stays enrolled until then;
- a member whose referral it closed (declined, unable to reach, not eligible,
  discontinued): nothing, unless the MIF lists them as `new` or `re-referral` (the plan
  refers them again): then as an open referral.

"Earlier drops" are the RTF rows of `feed_dir/provider_return/` of a reporting period
before D's month (the latest per member and provider), read as the ingest reads them:
headers by the contract's names and aliases, values by the spellings below; so
simulating a month again gives the same files.

How each provider writes (palette.PROVIDER_FILE_STYLES): mostly `.csv`, some `.xlsx`
(dates as date cells); DHCS's template headers (the contract's first alias of each
column) or our column names; the reporting period as `MM/YYYY`, `YYYY-MM` or `YYYYMM`;
some coded values in the provider's own spelling (palette.PROVIDER_SPELLINGS), each one
the packaged rules file's `[loop.aliases.<column>]` maps to an allowed value, so every
row stages; and the template's `Acuity Level`, a column the contract does not name.

Determinism: the same run folder, earlier drops, seed and shares give the same bytes
(one random stream per provider and as-of date, rows in member order, workbooks with a
fixed creation date). The files written are added to the feed folder's generator marker
(marker.py), so a later `ecm generate` into the folder removes them; a file of the same
name that the generator did not write is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from data_contracts import FeedContract, header_key, load_contract
from ecm.errors import InputError, OutputError
from ecm.generate import palette
from ecm.generate.calendar import add_months
from ecm.generate.claims import ECM_PROVIDER_NPIS
from ecm.generate.marker import generated_files, write_marker

RTF, OTF = "provider_return", "outreach"
FILE_PREFIX = {RTF: "ECM_RTF", OTF: "ECM_OTF"}
SHEET_NAME = {RTF: "Return Transmission File", OTF: "Outreach Tracker File"}
ACUITY = "Acuity Level"  # a column of DHCS's RTF template the contract does not name
# The MIF's columns the simulator reads (docs/OUTPUTS.md).
MIF_MEMBER, MIF_PROVIDER, MIF_STATUS = "Member CIN", "ECM Provider NPI", "Assignment Status"
CLOSED_STATES = ("declined", "unable_to_reach", "not_eligible", "discontinued")
# The MIF statuses of a member the plan refers again: a closed referral is worked anew.
REFERRED_AGAIN = ("new", "re-referral")
# Outcomes of a month beside the open referral's: an enrolled member stays or leaves.
STAYS_ENROLLED, DISCONTINUED = "stays_enrolled", "discontinued"
# A workbook records when it was created: fixed, so that its bytes never change.
WORKBOOK_CREATED = dt.datetime(2026, 1, 1)
DRAWS_PER_PAIR = 8  # random numbers each member's answer may use (a fixed count per pair)


@dataclass(frozen=True)
class AnswerShares:
    """How the providers answer: each outcome's share of the open referrals in a month
    (palette.REFERRAL_OUTCOMES; they add up to 1), and the share of the members enrolled
    with a provider that it discontinues in a month."""

    referral_outcomes: tuple[tuple[str, float], ...] = palette.REFERRAL_OUTCOMES
    discontinued: float = palette.DISCONTINUED_SHARE

    def __post_init__(self) -> None:
        known = {name for name, _ in palette.REFERRAL_OUTCOMES}
        names = [name for name, _ in self.referral_outcomes]
        unknown = sorted(set(names) - known)
        if unknown or len(set(names)) != len(names):
            raise ValueError(
                f"referral_outcomes: {unknown or names} — expected each of "
                f"{', '.join(sorted(known))} at most once"
            )
        shares = [share for _, share in self.referral_outcomes]
        if any(not 0 <= s <= 1 for s in shares) or abs(sum(shares) - 1) > 1e-9:
            raise ValueError(f"referral_outcomes: shares {shares} — expected 0..1, adding up to 1")
        if not 0 <= self.discontinued <= 1:
            raise ValueError(f"discontinued: {self.discontinued} — expected a share, 0..1")


@dataclass(frozen=True)
class ProviderAnswers:
    """What a simulation wrote: the reporting period answered (its first day), rows per
    feed, the files, and the members answered per outcome."""

    period: dt.date
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileStyle:
    """How one provider writes its files (palette.PROVIDER_FILE_STYLES)."""

    format: str
    headers: str
    spelling: str
    period: str
    dates: str

    def spelled(self, column: str, value: str) -> str:
        return palette.PROVIDER_SPELLINGS.get(self.spelling, {}).get(column, {}).get(value, value)


def simulate_providers(
    run_dir: Path,
    feed_dir: Path,
    *,
    as_of: dt.date | None = None,
    seed: int = 42,
    shares: AnswerShares | None = None,
) -> ProviderAnswers:
    """Write the providers' RTF and OTF drops answering the MIFs of the run in `run_dir`
    (its as-of date: `as_of`, else its summary.json's) into `feed_dir`."""
    run_dir, feed_dir = Path(run_dir), Path(feed_dir)
    shares = shares or AnswerShares()
    as_of = as_of or _run_as_of(run_dir)
    period = as_of.replace(day=1)
    if not feed_dir.is_dir():
        raise OutputError(f"The feed folder {feed_dir} does not exist or is not a folder.")
    pairs = _pairs_to_answer(_listed(run_dir, as_of), _latest_answers(feed_dir, period))
    next_end = add_months(period, 2) - dt.timedelta(days=1)
    rtf: dict[str, list[dict]] = {}
    otf: dict[str, list[dict]] = {}
    outcomes: Counter[str] = Counter()
    for (npi,), members in pairs.group_by(["provider_npi"], maintain_order=True):
        rng = np.random.default_rng([seed, as_of.toordinal(), int(npi)])
        low, high = palette.PRODUCTION_DAYS
        produced = min(as_of + dt.timedelta(days=int(rng.integers(low, high + 1))), next_end)
        draws = rng.random((members.height, DRAWS_PER_PAIR))
        month = _Month(as_of, period, produced, shares)
        for row, u in zip(members.iter_rows(named=True), draws, strict=True):
            outcome, answer, attempts = month.answer(row, u)
            outcomes[outcome] += 1
            if answer is not None:
                rtf.setdefault(npi, []).append(answer)
            otf.setdefault(npi, []).extend(attempts)
    files = _write(feed_dir, period, {RTF: rtf, OTF: otf})
    return ProviderAnswers(
        period=period,
        rows={RTF: sum(map(len, rtf.values())), OTF: sum(map(len, otf.values()))},
        files=files,
        outcomes=dict(sorted(outcomes.items())),
    )


# --- what the run sent, what the providers said before -------------------------------------


def _run_as_of(run_dir: Path) -> dt.date:
    try:
        return dt.date.fromisoformat(
            json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["as_of_date"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(
            f"{run_dir} has no readable summary.json with its as-of date: expected the output "
            f"folder of an ecm run (docs/OUTPUTS.md), or give the as-of date."
        ) from None


def _listed(run_dir: Path, as_of: dt.date) -> pl.DataFrame:
    """provider_npi, member_id, assignment_status: who the run's MIFs list (not the
    unassigned members: no provider receives them)."""
    folder = run_dir / "providers"
    mifs = [
        p for p in sorted(folder.glob(f"*/ECM_MIF_*_{as_of:%Y%m}.txt")) if p.parent.name.isdigit()
    ]
    if not mifs:
        raise InputError(
            f"{folder} holds no member information file of {as_of:%Y-%m} "
            f"(providers/<provider_npi>/ECM_MIF_<provider_npi>_{as_of:%Y%m}.txt): expected "
            f"the output folder of an ecm run as of {as_of} (docs/OUTPUTS.md)."
        )
    frames = [
        pl.read_csv(
            mif, separator="|", infer_schema=False, columns=[MIF_PROVIDER, MIF_MEMBER, MIF_STATUS]
        ).rename(
            {MIF_PROVIDER: "provider_npi", MIF_MEMBER: "member_id", MIF_STATUS: "assignment_status"}
        )
        for mif in mifs
    ]
    return pl.concat(frames).unique(["provider_npi", "member_id"], keep="first")


def _latest_answers(feed_dir: Path, period: dt.date) -> pl.DataFrame:
    """provider_npi, member_id, ecm_status, enrollment_start_date, enrollment_end_date:
    each pair's latest RTF row (by reporting period, then production date) among the
    drops of `feed_dir/provider_return/` of a period before `period`."""
    contract = load_contract(RTF)
    wanted = [
        "provider_npi",
        "member_id",
        "reporting_period",
        "file_production_date",
        "ecm_status",
        "enrollment_start_date",
        "enrollment_end_date",
    ]
    frames = [
        _as_contract_columns(_read_drop(path), contract, wanted)
        for path in sorted((feed_dir / RTF).rglob("*"))
        if path.suffix.lower() in {".csv", ".xlsx"} and not path.name.startswith((".", "~$"))
    ]
    if not frames:
        text, day = pl.String, pl.Date
        return pl.DataFrame(
            schema={
                "provider_npi": text,
                "member_id": text,
                "ecm_status": text,
                "enrollment_start_date": day,
                "enrollment_end_date": day,
            }
        )
    status = _reading_table(contract, "ecm_status")
    return (
        pl.concat(frames)
        .with_columns(
            pl.col("provider_npi", "member_id").str.strip_chars(),
            pl.col("ecm_status")
            .str.strip_chars()
            .str.to_lowercase()
            .replace_strict(status, default=None),
            _period(pl.col("reporting_period")),
            *(
                _date(pl.col(c))
                for c in ("file_production_date", "enrollment_start_date", "enrollment_end_date")
            ),
        )
        .filter(pl.col("reporting_period") < period)
        .sort(["reporting_period", "file_production_date"], nulls_last=False)
        .unique(["provider_npi", "member_id"], keep="last", maintain_order=True)
        .select(
            "provider_npi",
            "member_id",
            "ecm_status",
            "enrollment_start_date",
            "enrollment_end_date",
        )
    )


def _read_drop(path: Path) -> pl.DataFrame:
    """A drop's cells as text (a workbook's first sheet: a date cell as its ISO date-time,
    as the ingest reads it)."""
    if path.suffix.lower() == ".xlsx":
        import fastexcel

        return fastexcel.read_excel(path).load_sheet(0, dtypes="string").to_polars()
    return pl.read_csv(path, infer_schema=False)


def _as_contract_columns(frame: pl.DataFrame, contract: FeedContract, wanted: list[str]):
    """The frame under the contract's column names (a header matched as the ingest
    matches it: the name, or an alias by `header_key`), `wanted` only, missing ones empty."""
    aliases = contract.header_aliases
    names = {}
    for name in frame.columns:
        plain = name.strip().lower()
        column = plain if plain in contract.columns else aliases.get(header_key(name))
        if column in wanted and column not in names.values():
            names[name] = column
    frame = frame.select(list(names)).rename(names)
    return frame.with_columns(
        *(pl.lit(None, pl.String).alias(c) for c in wanted if c not in frame.columns)
    ).select(wanted)


def _reading_table(contract: FeedContract, column: str) -> dict[str, str]:
    """A coded column's values as the providers write them (trimmed, lower case) → the
    allowed value."""
    table = {v.lower(): v for v in contract.spec(column).allowed_values}
    for spellings in palette.PROVIDER_SPELLINGS.values():
        table.update({s.lower(): v for v, s in spellings.get(column, {}).items()})
    return table


def _period(text: pl.Expr) -> pl.Expr:
    """A reporting period (YYYY-MM, YYYYMM, MM/YYYY) as its first day."""
    text = text.str.strip_chars()
    iso = (
        text.str.replace(r"^(\d{4})-(\d{2})$", "$1-$2-01")
        .str.replace(r"^(\d{4})(\d{2})$", "$1-$2-01")
        .str.replace(r"^(\d{2})/(\d{4})$", "$2-$1-01")
    )
    return iso.str.to_date("%Y-%m-%d", strict=False)


def _date(text: pl.Expr) -> pl.Expr:
    """A date written YYYY-MM-DD (a date-time: its date) or MM/DD/YYYY."""
    text = text.str.strip_chars()
    return pl.coalesce(
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        text.str.to_date("%m/%d/%Y", strict=False),
    )


def _pairs_to_answer(listed: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """provider_npi, member_id, assignment_status (null: not in this MIF), prior_status,
    prior_start, prior_end, enrolled_elsewhere: the members listed, and those enrolled
    with a provider in its earlier drops, sorted by provider and member."""
    is_enrolled = (pl.col("ecm_status") == "enrolled") & pl.col("enrollment_end_date").is_null()
    enrolled = before.filter(is_enrolled).select("provider_npi", "member_id")
    elsewhere = (
        listed.join(enrolled.rename({"provider_npi": "enrolled_npi"}), on="member_id")
        .filter(pl.col("enrolled_npi") != pl.col("provider_npi"))
        .select("provider_npi", "member_id", enrolled_elsewhere=pl.lit(True))
        .unique()
    )
    pairs = pl.concat(
        [listed, enrolled.join(listed, on=["provider_npi", "member_id"], how="anti")],
        how="diagonal",
    )
    return (
        pairs.join(before, on=["provider_npi", "member_id"], how="left")
        .join(elsewhere, on=["provider_npi", "member_id"], how="left")
        .select(
            "provider_npi",
            "member_id",
            "assignment_status",
            prior_status=pl.col("ecm_status"),
            prior_start=pl.col("enrollment_start_date"),
            prior_end=pl.col("enrollment_end_date"),
            enrolled_elsewhere=pl.col("enrolled_elsewhere").fill_null(False),
        )
        .sort("provider_npi", "member_id")
    )


# --- one month's answers ------------------------------------------------------------------


def _pick(weighted: tuple[tuple[str, float], ...], u: float) -> str:
    """The entry of `weighted` (name, weight) that the uniform draw `u` falls in."""
    weights = np.array([w for _, w in weighted], dtype=float)
    edges = np.cumsum(weights / weights.sum())
    return weighted[min(int(np.searchsorted(edges, u, side="right")), len(weighted) - 1)][0]


def _between(low: int, high: int, u: float) -> int:
    """A whole number in [low, high] from the uniform draw `u`."""
    return low + min(int(u * (high - low + 1)), high - low)


@dataclass(frozen=True)
class _Month:
    """One provider's month: after the as-of date, up to its files' production date."""

    as_of: dt.date
    period: dt.date
    produced: dt.date
    shares: AnswerShares

    def answer(self, pair: dict[str, Any], u: np.ndarray) -> tuple[str, dict | None, list[dict]]:
        """The outcome for one member, their RTF row (None: no row) and OTF attempts,
        from the pair's fixed draws `u`."""
        status, listed_as = pair["prior_status"], pair["assignment_status"]
        if status == "enrolled" and pair["prior_end"] is None:
            return self._enrolled(pair, u)
        closed = status in CLOSED_STATES or status == "enrolled"  # enrolled: with an end
        if closed and listed_as not in REFERRED_AGAIN:
            return "closed", None, []
        if pair["enrolled_elsewhere"]:
            outcome = "not_eligible"
        else:
            outcome = _pick(self.shares.referral_outcomes, u[0])
        return outcome, *self._open(pair, outcome, u)

    def _rtf(self, pair: dict[str, Any], status: str, **values: Any) -> dict:
        return {
            "member_id": pair["member_id"],
            "provider_npi": pair["provider_npi"],
            "reporting_period": self.period,
            "file_production_date": self.produced,
            "ecm_status": status,
            **values,
        }

    def _encounters(self, u: np.ndarray) -> dict:
        return {
            "in_person_encounters": _between(0, palette.IN_PERSON_ENCOUNTERS_MOST, u[5]),
            "telephonic_encounters": _between(0, palette.TELEPHONIC_ENCOUNTERS_MOST, u[6]),
        }

    def _enrolled(self, pair: dict[str, Any], u: np.ndarray) -> tuple[str, dict, list[dict]]:
        """An enrolled member stays enrolled (the same start), or is discontinued."""
        start = pair["prior_start"]
        if u[0] < self.shares.discontinued:
            first = max(self.as_of + dt.timedelta(days=1), start)
            ended = first + dt.timedelta(days=_between(0, (self.produced - first).days, u[1]))
            row = self._rtf(
                pair,
                "discontinued",
                enrollment_start_date=start,
                enrollment_end_date=ended,
                discontinuation_date=ended,
                discontinuation_reason_code=_pick(palette.DISCONTINUATION_REASONS, u[2]),
                referral_status="closed",
                referral_status_date=ended,
                **self._encounters(u),
            )
            return DISCONTINUED, row, []
        row = self._rtf(
            pair,
            "enrolled",
            enrollment_start_date=start,
            referral_status="closed",
            referral_status_date=start,
            referral_closure_reason="services_received",
            **self._encounters(u),
            **{ACUITY: _pick(palette.ACUITY_LEVELS, u[7])},
        )
        return STAYS_ENROLLED, row, []

    def _open(
        self, pair: dict[str, Any], outcome: str, u: np.ndarray
    ) -> tuple[dict | None, list[dict]]:
        """The attempts and RTF row of an open referral's outcome this month."""
        attempts = self._attempts(pair, outcome, u)
        last = attempts[-1]["attempt_date"] if attempts else self.produced
        if outcome in ("no_answer", "outreach", "reached"):
            return None, attempts
        if outcome == "enrolled":
            days = _between(0, palette.ENROLLMENT_START_DAYS_MOST, u[4])
            start = min(last + dt.timedelta(days=days), self.produced)
            row = self._rtf(
                pair,
                "enrolled",
                enrollment_start_date=start,
                referral_status="closed",
                referral_status_date=start,
                referral_closure_reason="services_received",
                **self._encounters(u),
                **{ACUITY: _pick(palette.ACUITY_LEVELS, u[7])},
            )
            return row, attempts
        status, closure = {
            "pending": ("accepted", None),
            "declined": ("declined", "declined"),
            "unable_to_reach": ("closed", "unable_to_reach"),
            "not_eligible": ("closed", "not_eligible"),
        }[outcome]
        row = self._rtf(
            pair,
            outcome,
            referral_status=status,
            referral_status_date=last,
            referral_closure_reason=closure,
        )
        return row, attempts

    def _attempts(self, pair: dict[str, Any], outcome: str, u: np.ndarray) -> list[dict]:
        """Outreach attempts on distinct days after the as-of date, by the production
        date; the last one successful when the outcome reached the member."""
        if outcome in ("no_answer", "not_eligible"):
            return []
        low, high = (
            palette.UNABLE_TO_REACH_ATTEMPTS
            if outcome == "unable_to_reach"
            else palette.OUTREACH_ATTEMPTS
        )
        window = (self.produced - self.as_of).days  # days as_of + 1 .. produced
        count = min(_between(low, high, u[1]), window)
        # the attempts' own draws: a stream of the pair's, so each pair's count is fixed
        rng = np.random.default_rng(int(u[2] * 2**32))
        days = np.sort(rng.choice(window, size=count, replace=False)) + 1
        reached = outcome in ("reached", "pending", "enrolled", "declined")
        low_minutes, high_minutes = palette.OUTREACH_MINUTES
        return [
            {
                "member_id": pair["member_id"],
                "provider_npi": pair["provider_npi"],
                "attempt_date": self.as_of + dt.timedelta(days=int(day)),
                "method": _pick(palette.OUTREACH_METHODS, float(rng.random())),
                "successful": "Y" if reached and i == count - 1 else "N",
                "minutes": int(rng.integers(low_minutes, high_minutes + 1)),
            }
            for i, day in enumerate(days)
        ]


# --- the files ------------------------------------------------------------------------------


def _style(npi: str) -> FileStyle:
    """The provider's way of writing (palette.PROVIDER_FILE_STYLES), by its place among
    the generator's ECM providers, else by its number."""
    styles = palette.PROVIDER_FILE_STYLES
    place = ECM_PROVIDER_NPIS.index(npi) if npi in ECM_PROVIDER_NPIS else int(npi)
    return FileStyle(*styles[place % len(styles)])


def _columns(contract: FeedContract) -> list[str]:
    extra = [ACUITY] if contract.name == RTF else []
    return [*contract.columns, *extra]


def _header(contract: FeedContract, column: str, style: FileStyle) -> str:
    """DHCS's template header (the contract's first alias) or our column name."""
    if column not in contract.columns:
        return column
    aliases = contract.spec(column).aliases
    return aliases[0] if style.headers == "dhcs" and aliases else column


def _write(
    feed_dir: Path, period: dt.date, answers: dict[str, dict[str, list[dict]]]
) -> list[Path]:
    """Each provider's RTF and OTF of `period` (a file only when it has rows). The
    generator's earlier files of this period are replaced; any other file of a name to
    write is refused before anything is written."""
    ours = set(generated_files(feed_dir) or [])
    planned = [
        (f"{feed}/{FILE_PREFIX[feed]}_{npi}_{period:%Y%m}.{_style(npi).format}", feed, npi, rows)
        for feed, by_provider in answers.items()
        for npi, rows in sorted(by_provider.items())
        if rows
    ]
    for name, *_ in planned:
        if (feed_dir / name).exists() and name not in ours:
            raise OutputError(
                f"{feed_dir / name} exists and was not written by ecm generate; the provider "
                f"simulator will not overwrite it. Move it, or choose another feed folder."
            )
    this_period = re.compile(rf"^({RTF}|{OTF})/ECM_(RTF|OTF)_\d+_{period:%Y%m}\.(csv|xlsx)$")
    for name in sorted(n for n in ours if this_period.match(n)):
        (feed_dir / name).unlink(missing_ok=True)
        ours.discard(name)
    written = []
    for name, feed, npi, rows in planned:
        path = feed_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write = _write_workbook if path.suffix == ".xlsx" else _write_text
        write(path, load_contract(feed), _style(npi), rows)
        ours.add(name)
        written.append(path)
    write_marker(feed_dir, ours)
    return written


def _cell(contract: FeedContract, column: str, value: Any, style: FileStyle) -> Any:
    """A value as the provider writes it: coded values in its spelling, the period in its
    form; dates and counts as they are (text files format them)."""
    if value is None:
        return None
    if column == "reporting_period":
        return value.strftime(style.period)
    if column in contract.columns and contract.spec(column).value_aliases_named_by:
        return style.spelled(column, value)
    return value


def _write_text(path: Path, contract: FeedContract, style: FileStyle, rows: list[dict]) -> None:
    columns = _columns(contract)

    def text(column: str, value: Any) -> str | None:
        value = _cell(contract, column, value, style)
        if isinstance(value, dt.date):
            return value.strftime(style.dates)
        return None if value is None else str(value)

    frame = pl.DataFrame(
        {
            _header(contract, c, style): pl.Series(
                [text(c, r.get(c)) for r in rows], dtype=pl.String
            )
            for c in columns
        }
    )
    frame.write_csv(path)


def _write_workbook(path: Path, contract: FeedContract, style: FileStyle, rows: list[dict]) -> None:
    """An .xlsx of one sheet (the template's), the header on row 1, dates as date cells."""
    import xlsxwriter

    columns = _columns(contract)
    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    book.set_properties({"created": WORKBOOK_CREATED})
    date_cell = book.add_format({"num_format": "mm/dd/yyyy"})
    sheet = book.add_worksheet(SHEET_NAME[contract.name])
    sheet.write_row(0, 0, [_header(contract, c, style) for c in columns])
    for line, row in enumerate(rows, start=1):
        for place, column in enumerate(columns):
            value = _cell(contract, column, row.get(column), style)
            if value is None:
                continue
            if isinstance(value, dt.date):
                sheet.write_datetime(line, place, value, date_cell)
            elif isinstance(value, int):
                sheet.write_number(line, place, value)
            else:
                sheet.write_string(line, place, value)
    book.close()
