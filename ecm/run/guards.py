"""Sanity guards: stop a run whose result cannot be true (outputs.md).

A run that would enrol fewer members than `guards.min_enrolled_members` on the as-of
date, or that quarantined more than `guards.max_quarantined_share` of a feed's rows
(required and optional feeds alike), is refused: exit 3, nothing replaced, the refused
run's summary printed. The thresholds live in the rules file.

The quarantine guard first acts during the ingest (`QuarantineShare`): a feed stops the
run as soon as its share is certain, before the rest of it is staged, and the refused
run's summary is then the partial one the ingest builds. `sanity_guard_failures` checks
the whole run's summary again at its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from data_contracts import load_contracts
from ecm.config.rules import Rules
from ecm.errors import SanityGuardError

REFUSED = "The run was refused by its sanity guards and replaced nothing: "


def percent(share: float, limit: float, *, at_least: bool = False) -> str:
    """`share` as a percentage with as many decimals as it takes to differ from `limit`'s
    (21% against 20%, but 20.4% against 20%); rounded down when `at_least`."""
    decimals = 0
    while True:
        scale = 10 ** (decimals + 2)
        shown = math.floor(share * scale) / scale if at_least else share
        if f"{shown:.{decimals}%}" != f"{limit:.{decimals}%}" or decimals == 3:
            return f"{shown:.{decimals}%}"
        decimals += 1


def setting_percent(share: float) -> str:
    """A share setting as a percentage, as exact as written (0.2: 20%, 0.125: 12.5%)."""
    return f"{round(share * 100, 6):g}%"


def quarantined_share_failure(feed: str, quarantined: int, read: int, max_share: float) -> str:
    """The sentence of a feed whose `quarantined` of `read` rows pass `max_share`; empty
    when they do not (or the feed has no row: an absent or header-only feed)."""
    if not read or quarantined / read <= max_share:
        return ""
    return (
        f"{percent(quarantined / read, max_share)} of the {feed} feed's rows were quarantined "
        f"({quarantined:,} of {read:,}; the rules file's guards.max_quarantined_share is "
        f"{setting_percent(max_share)})"
    )


@dataclass
class QuarantineShare:
    """The quarantine guard of one feed while the ingest stages it.

    `rows_at_most` bounds the feed's rows before they are read: the rows of its files kept
    from an earlier ingest, plus for each file to stage its lines less the header (a row
    takes at least one line) or a Parquet footer's row count; None when a file's rows
    cannot be known before it is read. `read` and `quarantined` count the rows so far
    (the kept files' included).

    The share is *certain* once `quarantined` passes `max_share` of `rows_at_most`: the
    rows still to come can only lower the share to quarantined / rows_at_most, never
    under the setting, so the refusal is exact, never a guess from the first rows.
    `count` checks after each piece of a file; `check_feed` once the feed is staged
    whole (then the share is known: quarantined / read)."""

    feed: str
    max_share: float | None  # None: count only
    rows_at_most: int | None
    read: int = 0
    quarantined: int = 0
    # `ecm validate` reports every broken row of a feed, but reads no further a feed whose
    # share is certainly past the guard once it has read `read_before_refusing` rows: a
    # feed of one piece is validated whole, a bomb costs what it costs a run.
    read_before_refusing: int = 0
    refusing: str = "run"  # who stops: "run" (refused) or "validation" (stopped reading)

    def count(self, read: int, quarantined: int) -> None:
        """Add a staged piece's rows; SanityGuardError once the share is certain."""
        self.read += read
        self.quarantined += quarantined
        bound = self.rows_at_most
        if self.max_share is None or not bound or self.quarantined / bound <= self.max_share:
            return
        if self.read >= bound:  # every row is read: the share is known
            self.check_feed(self.read, self.quarantined)
            return
        if self.read <= self.read_before_refusing:
            return
        share = percent(self.quarantined / bound, self.max_share, at_least=True)
        counted = (
            f"at least {share} of the {self.feed} feed's rows are quarantined "
            f"({self.quarantined:,} of at most {bound:,}; the rules file's "
            f"guards.max_quarantined_share is {setting_percent(self.max_share)})"
        )
        if self.refusing == "validation":
            raise SanityGuardError(
                f"The validation stopped reading the {self.feed} feed: {counted}, so a run "
                f"would be refused. It read {self.read:,} rows and not the rest, which would "
                f"only add to the quarantine; fix the extract and validate it again. The "
                f"summary below counts the rules they broke."
            )
        raise SanityGuardError(
            f"{REFUSED}{counted}: the ingest stopped after {self.read:,} rows, as soon as the "
            f"share was certain, and did not read the rest. The summary below counts the "
            f"rules they broke."
        )

    def check_feed(self, read: int, quarantined: int) -> None:
        """The feed staged whole (`read`, `quarantined` of its current files):
        SanityGuardError when its share passes the setting."""
        self.read, self.quarantined = read, quarantined
        if self.max_share is None or self.refusing == "validation":
            return  # a feed read whole is validated whole: every broken row reported
        if sentence := quarantined_share_failure(self.feed, quarantined, read, self.max_share):
            raise SanityGuardError(
                f"{REFUSED}{sentence}: the ingest stopped after staging it. The summary below "
                f"counts the rules they broke."
            )


def sanity_guard_failures(summary: dict[str, Any], rules: Rules) -> list[str]:
    """One sentence per guard the run's summary trips (empty when it passes)."""
    failures: list[str] = []
    min_enrolled = rules.setting("guards.min_enrolled_members")
    enrolled = summary["members"]["enrolled"]
    if enrolled < min_enrolled:
        failures.append(
            f"{enrolled:,} members are enrolled on the as-of date {summary['as_of_date']} "
            f"(the rules file's guards.min_enrolled_members is {min_enrolled:,}): check the "
            f"as-of date and that the eligibility feed's member_id and enrollment dates are "
            f"this plan's"
        )
    max_share = rules.setting("guards.max_quarantined_share")
    for name in load_contracts():
        counts = summary["feeds"].get(name, {})
        sentence = quarantined_share_failure(
            name, counts.get("quarantined", 0), counts.get("read", 0), max_share
        )
        if sentence:
            failures.append(f"{sentence}: see the rules they broke in the summary below")
    return failures


def check_sanity_guards(summary: dict[str, Any], rules: Rules) -> None:
    """Raise SanityGuardError (with the summary) when a guard trips."""
    failures = sanity_guard_failures(summary, rules)
    if failures:
        raise SanityGuardError(REFUSED + "; ".join(failures) + ".", summary)
