"""The referral loop's rules (transforms.loop) at the boundaries of loop.md, section 3:
which RTF and OTF rows belong to a referral, each state and its date, overdue at
max_open_days, re-referral at re_refer_after_months and on a population gained, a member
enrolled with another provider, an RTF row for a member never sent, an exclusion beginning
while enrolled, a member leaving the plan or dying, and the review of enrolled members."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.conftest import eligibility
from transforms import loop
from transforms.loop import (
    EXCLUSIONS_SCHEMA,
    MEMBER_FILES_SCHEMA,
    OTF_SCHEMA,
    RTF_SCHEMA,
)

D = dt.date
AS_OF = D(2026, 10, 31)
P, Q = "1111111111", "2222222222"


def frame(schema: dict, *rows: dict) -> pl.LazyFrame:
    return pl.LazyFrame([{**dict.fromkeys(schema), **r} for r in rows], schema=schema)


def rtf(*rows: dict) -> pl.LazyFrame:
    """RTF rows: member A with provider P, period 2026-10, status enrolled unless said;
    each its own line of one file."""
    full = []
    for i, r in enumerate(rows):
        row = {
            "member_id": "A",
            "provider_npi": P,
            "reporting_period": D(2026, 10, 1),
            "ecm_status": "enrolled",
            "_source_file": "provider_return.csv",
            "_line": i + 2,
        }
        full.append({**row, **r})
    return frame(RTF_SCHEMA, *full)


def otf(*rows: dict) -> pl.LazyFrame:
    full = []
    for i, r in enumerate(rows):
        row = {
            "member_id": "A",
            "provider_npi": P,
            "method": "phone",
            "successful": "N",
            "_source_file": "outreach.csv",
            "_line": i + 2,
        }
        full.append({**row, **r})
    return frame(OTF_SCHEMA, *full)


NO_RTF = rtf().filter(pl.lit(False))
NO_OTF = otf().filter(pl.lit(False))


def referrals(*rows: tuple[str, str, dt.date]) -> pl.LazyFrame:
    return pl.LazyFrame(
        [{"member_id": m, "provider_npi": p, "opened_date": d} for m, p, d in rows],
        schema={"member_id": pl.String, "provider_npi": pl.String, "opened_date": pl.Date},
    )


def in_plan(*members: str) -> pl.LazyFrame:
    return loop.plan_membership(
        eligibility(*({"member_id": m, "birth_date": D(1980, 1, 1)} for m in members)), AS_OF
    )


def assignments(*rows: tuple, excluded: dict[str, str] | None = None) -> pl.LazyFrame:
    """(member_id, pof_code, provider_npi) rows; `excluded` member → excluded_by."""
    excluded = excluded or {}
    return pl.LazyFrame(
        [
            {"member_id": m, "pof_code": c, "provider_npi": p, "excluded_by": excluded.get(m, "")}
            for m, c, p in rows
        ],
        schema={
            "member_id": pl.String,
            "pof_code": pl.String,
            "provider_npi": pl.String,
            "excluded_by": pl.String,
        },
    )


NOBODY_EXCLUDED = loop.exclusions_on(assignments(), None)


def state_of(
    returns=NO_RTF,
    attempts=NO_OTF,
    *,
    opened=D(2026, 9, 30),
    membership=None,
    excluded=NOBODY_EXCLUDED,
    as_of=AS_OF,
    max_open_days=60,
) -> dict:
    got = loop.referral_states(
        referrals(("A", P, opened)),
        returns,
        attempts,
        membership if membership is not None else in_plan("A"),
        excluded,
        as_of=as_of,
        max_open_days=max_open_days,
    ).collect()
    assert got.schema == pl.Schema(loop.REFERRAL_SCHEMA)
    assert got.height == 1
    return got.row(0, named=True)


# --- which referrals are known, and when each opened ---------------------------------


def member_files(*rows: tuple) -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            {"as_of_date": d, "member_id": m, "provider_npi": p, "assignment_status": s}
            for d, m, p, s in rows
        ],
        schema=MEMBER_FILES_SCHEMA,
    )


def test_a_referral_opens_on_its_latest_new_or_re_referral_listing():
    listed = member_files(
        (D(2026, 1, 31), "A", P, "new"),
        (D(2026, 2, 28), "A", P, "continuing"),
        (D(2026, 9, 30), "A", P, "re-referral"),
        (D(2026, 10, 31), "A", P, "continuing"),
        (D(2026, 11, 30), "A", P, "re-referral"),  # after D: not known on D
        (D(2026, 3, 31), "B", P, "continuing"),  # its opening run is gone
        (D(2026, 4, 30), "B", P, "enrolled"),
        (D(2026, 10, 31), "C", None, "new"),  # unassigned/: no referral
        (D(2026, 11, 30), "E", Q, "new"),  # only after D
    )
    got = loop.known_referrals(listed, AS_OF).collect()
    assert got.rows() == [("A", P, D(2026, 9, 30)), ("B", P, D(2026, 3, 31))]


# --- the states, in the table's order ---------------------------------------------------


def test_nothing_back_is_referred_since_it_opened():
    got = state_of()
    assert (got["state"], got["state_date"]) == ("referred", D(2026, 9, 30))
    assert got["outreach_attempts"] == 0 and got["last_outreach_date"] is None
    assert (got["days_open"], got["is_overdue"]) == (31, False)


@pytest.mark.parametrize(
    ("opened", "days_open", "overdue"),
    [(D(2026, 9, 1), 60, False), (D(2026, 8, 31), 61, True)],
    ids=["60-days-open", "61-days-open"],
)
def test_an_open_loop_is_overdue_past_max_open_days(opened, days_open, overdue):
    got = state_of(opened=opened)
    assert (got["days_open"], got["is_overdue"]) == (days_open, overdue)


def test_max_open_days_comes_from_the_caller():
    assert state_of(opened=D(2026, 9, 1), max_open_days=59)["is_overdue"] is True


def test_outreach_then_reached_by_the_otf():
    attempts = otf({"attempt_date": D(2026, 10, 3)}, {"attempt_date": D(2026, 10, 9)})
    got = state_of(attempts=attempts)
    assert (got["state"], got["state_date"]) == ("outreach", D(2026, 10, 3))
    assert (got["outreach_attempts"], got["last_outreach_date"]) == (2, D(2026, 10, 9))
    reached = otf(
        {"attempt_date": D(2026, 10, 3)},
        {"attempt_date": D(2026, 10, 9), "successful": "Y"},
        {"attempt_date": D(2026, 10, 20), "successful": "Y"},
    )
    got = state_of(attempts=reached)
    assert (got["state"], got["state_date"], got["outreach_attempts"]) == (
        "reached",
        D(2026, 10, 9),
        3,
    )
    assert got["is_overdue"] is False and got["days_open"] == 31  # still an open loop


def test_only_attempts_from_the_opening_through_d_count():
    attempts = otf(
        {"attempt_date": D(2026, 9, 29), "successful": "Y"},  # before it opened
        {"attempt_date": D(2026, 9, 30)},  # the day it opened
        {"attempt_date": D(2026, 10, 31)},  # D
        {"attempt_date": D(2026, 11, 1), "successful": "Y"},  # after D
        {"attempt_date": D(2026, 10, 5), "provider_npi": Q, "successful": "Y"},  # not P's
    )
    got = state_of(attempts=attempts)
    assert (got["state"], got["outreach_attempts"]) == ("outreach", 2)
    assert got["last_outreach_date"] == D(2026, 10, 31)


def test_pending_beats_the_otf_and_dates_from_the_status_update():
    got = state_of(
        rtf({"ecm_status": "pending", "referral_status_date": D(2026, 10, 12)}),
        otf({"attempt_date": D(2026, 10, 3), "successful": "Y"}),
    )
    assert (got["state"], got["state_date"], got["days_open"]) == ("pending", D(2026, 10, 12), 31)


@pytest.mark.parametrize("refusal", ["declined", "unable_to_reach", "not_eligible"])
def test_a_refusal_by_status_or_by_closure_reason(refusal):
    by_status = state_of(rtf({"ecm_status": refusal, "file_production_date": D(2026, 11, 5)}))
    assert (by_status["state"], by_status["state_date"]) == (refusal, D(2026, 11, 5))
    assert (by_status["days_open"], by_status["is_overdue"]) == (None, False)
    by_reason = state_of(rtf({"ecm_status": "pending", "referral_closure_reason": refusal}))
    assert (by_reason["state"], by_reason["closure_reason"]) == (refusal, refusal)
    assert by_reason["state_date"] == D(2026, 10, 1)  # no date given: the period


def test_the_status_names_the_refusal_before_the_closure_reason():
    got = state_of(rtf({"ecm_status": "declined", "referral_closure_reason": "not_eligible"}))
    assert got["state"] == "declined"


@pytest.mark.parametrize(
    ("start", "end", "state"),
    [
        (D(2026, 10, 1), None, "enrolled"),
        (None, None, "enrolled"),
        (AS_OF, None, "enrolled"),
        (D(2026, 11, 1), None, "referred"),  # starts after D: not yet
        (D(2026, 10, 1), AS_OF, "enrolled"),  # ends on D: still covers it
        (D(2026, 10, 1), D(2026, 10, 30), "discontinued"),  # ended the day before D
    ],
    ids=["open", "no-dates", "starts-on-d", "starts-after-d", "ends-on-d", "ended-before-d"],
)
def test_enrolled_needs_a_span_covering_d(start, end, state):
    got = state_of(rtf({"enrollment_start_date": start, "enrollment_end_date": end}))
    assert got["state"] == state
    if state == "enrolled":
        assert got["state_date"] == (start or D(2026, 10, 1))
        assert got["enrollment_start_date"] == start and got["days_open"] is None


def test_discontinued_with_its_reason_code_and_date():
    got = state_of(
        rtf(
            {
                "ecm_status": "discontinued",
                "enrollment_start_date": D(2026, 10, 2),
                "enrollment_end_date": D(2026, 10, 20),
                "discontinuation_date": D(2026, 10, 21),
                "discontinuation_reason_code": "DP",
            }
        )
    )
    assert (got["state"], got["state_date"], got["discontinuation_reason_code"]) == (
        "discontinued",
        D(2026, 10, 21),
        "DP",
    )
    assert (got["enrollment_start_date"], got["enrollment_end_date"]) == (
        D(2026, 10, 2),
        D(2026, 10, 20),
    )
    by_end = state_of(rtf({"ecm_status": "pending", "enrollment_end_date": D(2026, 10, 20)}))
    assert (by_end["state"], by_end["state_date"]) == ("discontinued", D(2026, 10, 20))


def test_the_latest_rtf_row_speaks_period_then_production_date_empty_first_then_line():
    rows = rtf(
        {"reporting_period": D(2026, 9, 1), "ecm_status": "declined"},  # an earlier period
        {"ecm_status": "declined", "file_production_date": D(2026, 11, 3)},
        {"ecm_status": "not_eligible"},  # no production date: before the dated one
        {"ecm_status": "pending", "file_production_date": D(2026, 11, 2)},
    )
    assert state_of(rows)["state"] == "declined"
    same_date = rtf(
        {"ecm_status": "declined", "file_production_date": D(2026, 11, 3)},
        {"ecm_status": "pending", "file_production_date": D(2026, 11, 3)},  # a later line
    )
    assert state_of(same_date)["state"] == "pending"


def test_an_rtf_period_before_the_opening_month_or_after_d_is_not_this_loops():
    earlier_loop = rtf({"reporting_period": D(2026, 8, 1), "ecm_status": "declined"})
    assert state_of(earlier_loop)["state"] == "referred"  # opened 2026-09-30
    opening_month = rtf({"reporting_period": D(2026, 9, 1), "ecm_status": "declined"})
    assert state_of(opening_month)["state"] == "declined"
    after_d = rtf({"reporting_period": D(2026, 11, 1), "ecm_status": "declined"})
    assert state_of(after_d)["state"] == "referred"
    other_provider = rtf({"provider_npi": Q, "ecm_status": "declined"})
    assert state_of(other_provider)["state"] == "referred"


def test_left_plan_on_the_day_after_the_last_span_ended():
    membership = loop.plan_membership(
        eligibility(
            {
                "member_id": "A",
                "birth_date": D(1980, 1, 1),
                "enrollment_end_date": D(2026, 10, 15),
            }
        ),
        AS_OF,
    )
    got = state_of(rtf({"ecm_status": "enrolled"}), membership=membership)
    assert (got["state"], got["state_date"]) == ("left_plan", D(2026, 10, 16))
    assert (got["days_open"], got["is_overdue"]) == (None, False)


@pytest.mark.parametrize(
    ("death", "state"),
    [(AS_OF, "left_plan"), (D(2026, 11, 1), "enrolled")],
    ids=["died-on-d", "dies-after-d"],
)
def test_a_member_who_died_on_or_before_d_left_the_plan_on_the_death_date(death, state):
    membership = loop.plan_membership(
        eligibility({"member_id": "A", "birth_date": D(1950, 1, 1), "death_date": death}), AS_OF
    )
    got = state_of(rtf({"ecm_status": "enrolled"}), membership=membership)
    assert got["state"] == state
    if state == "left_plan":
        assert got["state_date"] == death


def test_a_member_unknown_to_eligibility_left_the_plan_on_no_known_date():
    got = state_of(membership=in_plan("Z"))
    assert (got["state"], got["state_date"]) == ("left_plan", None)


def test_an_exclusion_beginning_while_enrolled_closes_the_loop_as_excluded():
    holding = assignments(("A", "HIGH_UTIL_ADULT", P), excluded={"A": "ccm;hospice"})
    spans = frame(
        EXCLUSIONS_SCHEMA,
        {"member_id": "A", "program": "hospice", "start_date": D(2026, 10, 20)},
        {"member_id": "A", "program": "ccm", "start_date": D(2026, 3, 1)},
    )
    excluded = loop.exclusions_on(holding, spans)
    assert excluded.collect().rows() == [("A", "ccm;hospice", D(2026, 10, 20))]
    got = state_of(rtf({"enrollment_start_date": D(2026, 10, 2)}), excluded=excluded)
    assert (got["state"], got["state_date"]) == ("excluded", D(2026, 10, 20))
    assert got["enrollment_start_date"] == D(2026, 10, 2)  # what the provider said, kept


def test_excluded_reads_excluded_by_for_members_holding_a_population_and_the_exclusions_else():
    holding = assignments(
        ("A", "HIGH_UTIL_ADULT", P),
        ("B", "HIGH_UTIL_ADULT", P),
        excluded={"A": "pace"},
    )
    spans = frame(
        EXCLUSIONS_SCHEMA,
        {"member_id": "B", "program": "pace", "start_date": D(2026, 1, 1)},  # not in excluded_by
        {"member_id": "C", "program": "dsnp", "start_date": D(2026, 2, 1)},  # holds none
    )
    got = loop.exclusions_on(holding, spans).collect()
    assert got.rows() == [("A", "pace", None), ("C", "dsnp", D(2026, 2, 1))]


def test_without_excluded_by_or_exclusions_nobody_is_excluded():
    plain = assignments(("A", "X", P)).drop("excluded_by")
    assert loop.exclusions_on(plain, None).collect().height == 0


def test_the_states_come_in_the_tables_order():
    excluded = loop.exclusions_on(assignments(("A", "X", P), excluded={"A": "pace"}), None)
    discontinued = rtf({"ecm_status": "discontinued"})
    assert state_of(discontinued, membership=in_plan("Z"), excluded=excluded)["state"] == (
        "left_plan"
    )
    assert state_of(discontinued, excluded=excluded)["state"] == "excluded"
    assert state_of(rtf({"ecm_status": "declined", "enrollment_end_date": D(2026, 10, 1)}))[
        "state"
    ] == ("discontinued")


# --- the MIF's Assignment Status ---------------------------------------------------------


def statuses(
    held,
    prior=None,
    *,
    enrollments=None,
    run_dates=(),
    past=(),
    previous=(),
    as_of=AS_OF,
    months=6,
) -> dict[str, tuple[str | None, str | None]]:
    """member → (assignment_status, left_out_reason)."""
    prior = (
        prior
        if prior is not None
        else pl.LazyFrame(schema={**loop.REFERRAL_SCHEMA}).select(
            "member_id", "provider_npi", "state", "state_date"
        )
    )
    runs = pl.LazyFrame({"as_of_date": list(run_dates)}, schema={"as_of_date": pl.Date})
    closing = loop.closing_runs(prior, runs, as_of)
    populations = pl.LazyFrame(
        [{"as_of_date": d, "member_id": m, "pof_code": c} for d, m, c in past],
        schema={"as_of_date": pl.Date, "member_id": pl.String, "pof_code": pl.String},
    )
    before = pl.LazyFrame(
        [{"member_id": m, "pof_code": c} for m, c in previous],
        schema={"member_id": pl.String, "pof_code": pl.String},
    )
    got = loop.assignment_statuses(
        held,
        prior,
        closing,
        populations,
        enrollments if enrollments is not None else loop.ecm_enrollments(NO_RTF, as_of),
        before,
        as_of=as_of,
        re_refer_after_months=months,
    ).collect()
    assert got.schema == pl.Schema(loop.LISTING_SCHEMA)
    return {m: (s, r) for m, _, s, r in got.iter_rows()}


def prior_states(*rows: tuple) -> pl.LazyFrame:
    """(member_id, provider_npi, state, state_date)."""
    return pl.LazyFrame(
        [{"member_id": m, "provider_npi": p, "state": s, "state_date": d} for m, p, s, d in rows],
        schema={
            "member_id": pl.String,
            "provider_npi": pl.String,
            "state": pl.String,
            "state_date": pl.Date,
        },
    )


def test_new_continuing_and_enrolled_against_the_referrals_known_before():
    held = assignments(("A", "X", P), ("B", "X", P), ("C", "X", P), ("E", "X", P), ("F", "X", Q))
    prior = prior_states(
        ("B", P, "outreach", D(2026, 10, 2)),
        ("C", P, "enrolled", D(2026, 10, 2)),
        ("E", P, "pending", D(2026, 10, 2)),
        ("F", P, "referred", D(2026, 9, 30)),  # F's provider is Q now: a new referral
    )
    assert statuses(held, prior) == {
        "A": ("new", None),
        "B": ("continuing", None),
        "C": ("enrolled", None),
        "E": ("continuing", None),
        "F": ("new", None),
    }


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (D(2026, 10, 15), ("re-referral", None)),  # exactly 6 months after 2026-04-15
        (D(2026, 10, 14), (None, "loop_closed")),  # one day less
    ],
    ids=["six-months", "a-day-short"],
)
@pytest.mark.parametrize(
    "closed_in", ["declined", "unable_to_reach", "not_eligible", "discontinued"]
)
def test_a_closed_loop_is_referred_again_after_re_refer_after_months(closed_in, as_of, expected):
    held = assignments(("A", "X", P))
    prior = prior_states(("A", P, closed_in, D(2026, 4, 15)))
    assert statuses(held, prior, as_of=as_of) == {"A": expected}


@pytest.mark.parametrize(
    ("as_of", "status"),
    [(D(2026, 9, 30), "re-referral"), (D(2026, 9, 29), None)],
    ids=["month-end", "a-day-short"],
)
def test_months_are_calendar_months_ending_on_a_months_last_day(as_of, status):
    prior = prior_states(("A", P, "declined", D(2026, 3, 31)))  # September has no 31st
    assert statuses(assignments(("A", "X", P)), prior, as_of=as_of)["A"][0] == status


def test_re_refer_after_months_comes_from_the_caller():
    prior = prior_states(("A", P, "declined", D(2026, 7, 31)))
    held = assignments(("A", "X", P))
    assert statuses(held, prior, months=3)["A"] == ("re-referral", None)
    assert statuses(held, prior, months=4)["A"] == (None, "loop_closed")


def test_a_population_gained_since_the_run_the_loop_closed_in_refers_again():
    prior = prior_states(("A", P, "declined", D(2026, 8, 10)))
    runs = (D(2026, 7, 31), D(2026, 8, 31), D(2026, 9, 30))
    past = [
        (D(2026, 7, 31), "A", "Y"),  # held Y before the loop closed: does not count
        (D(2026, 8, 31), "A", "X"),  # the run in which the loop closed
        (D(2026, 9, 30), "A", "X"),
        (D(2026, 9, 30), "A", "Y"),
    ]
    gained = assignments(("A", "X", P), ("A", "Y", P))
    assert statuses(gained, prior, run_dates=runs, past=past)["A"] == ("re-referral", None)
    same = assignments(("A", "X", P))
    assert statuses(same, prior, run_dates=runs, past=past)["A"] == (None, "loop_closed")


def test_the_closing_run_is_the_first_on_or_after_the_closing_date():
    prior = prior_states(("A", P, "declined", D(2026, 8, 31)))
    runs = (D(2026, 8, 31), D(2026, 9, 30))
    past = [(D(2026, 8, 31), "A", "X"), (D(2026, 9, 30), "A", "X"), (D(2026, 9, 30), "A", "Y")]
    # the run of 2026-08-31 saw the loop closed, holding X only: Y is a gain
    assert statuses(assignments(("A", "X", P), ("A", "Y", P)), prior, run_dates=runs, past=past)[
        "A"
    ] == ("re-referral", None)


def test_a_loop_closed_after_every_recorded_run_closed_in_this_run():
    prior = prior_states(("A", P, "declined", D(2026, 10, 5)))
    runs = (D(2026, 9, 30),)
    past = [(D(2026, 9, 30), "A", "X")]
    held = assignments(("A", "X", P), ("A", "Y", P))  # Y is new since September, not since
    assert statuses(held, prior, run_dates=runs, past=past)["A"] == (None, "loop_closed")


def test_a_member_enrolled_with_another_provider_is_left_out():
    enrolled_q = loop.ecm_enrollments(rtf({"provider_npi": Q}), AS_OF)
    held = assignments(("A", "X", P))
    assert statuses(held, enrollments=enrolled_q) == {"A": (None, "enrolled_elsewhere")}
    with_both = loop.ecm_enrollments(rtf({"provider_npi": Q}, {"provider_npi": P}), AS_OF)
    assert statuses(held, enrollments=with_both) == {"A": ("enrolled", None)}
    ended_q = loop.ecm_enrollments(
        rtf({"provider_npi": Q, "enrollment_end_date": D(2026, 10, 30)}), AS_OF
    )
    assert statuses(held, enrollments=ended_q) == {"A": ("new", None)}


def test_a_member_the_rtf_shows_enrolled_with_its_provider_is_enrolled_before_any_referral():
    # A plan adopting the loop: its ECM enrollees were never listed by ecm, and their
    # provider's RTF says enrolled on D. They are `enrolled` (loop.md: enrolled in ECM with
    # this provider on D), not `new`; once the enrollment ends they are `new`.
    held = assignments(("A", "X", P))
    enrolled_p = loop.ecm_enrollments(rtf({"enrollment_start_date": D(2026, 1, 5)}), AS_OF)
    assert statuses(held, enrollments=enrolled_p) == {"A": ("enrolled", None)}
    ended_p = loop.ecm_enrollments(
        rtf({"enrollment_start_date": D(2026, 1, 5), "enrollment_end_date": D(2026, 10, 30)}),
        AS_OF,
    )
    assert statuses(held, enrollments=ended_p) == {"A": ("new", None)}


def test_an_excluded_member_is_in_no_file_and_unassigned_members_as_before():
    held = assignments(
        ("A", "X", P),
        ("U1", "X", None),
        ("U2", "X", None),
        ("U2", "Y", None),
        ("V", "X", None),
        excluded={"A": "hospice", "V": "pace"},
    )
    got = statuses(held, previous=[("U2", "Y"), ("V", "X")])
    assert got == {"U1": ("new", None), "U2": ("continuing", None)}


def test_a_loop_closed_by_leaving_the_plan_is_referred_again_when_the_member_is_back():
    prior = prior_states(("A", P, "left_plan", D(2026, 9, 1)))
    assert statuses(assignments(("A", "X", P)), prior)["A"] == ("re-referral", None)


def test_listed_member_files_record_the_listed_only():
    listing = pl.LazyFrame(
        [
            {"member_id": "B", "provider_npi": P, "assignment_status": None,
             "left_out_reason": "loop_closed"},
            {"member_id": "A", "provider_npi": P, "assignment_status": "new",
             "left_out_reason": None},
            {"member_id": "U", "provider_npi": None, "assignment_status": "new",
             "left_out_reason": None},
        ],
        schema=loop.LISTING_SCHEMA,
    )  # fmt: skip
    got = loop.listed_member_files(listing, AS_OF).collect()
    assert got.schema == pl.Schema(MEMBER_FILES_SCHEMA)
    assert got.rows() == [(AS_OF, "A", P, "new"), (AS_OF, "U", None, "new")]


# --- review.parquet ----------------------------------------------------------------------


def review(enrolled_rtf, held, previous=(), membership=None, excluded=NOBODY_EXCLUDED):
    before = pl.LazyFrame(
        [{"member_id": m, "pof_code": c} for m, c in previous],
        schema={"member_id": pl.String, "pof_code": pl.String},
    )
    got = loop.review_rows(
        loop.ecm_enrollments(enrolled_rtf, AS_OF),
        held,
        before,
        membership if membership is not None else in_plan("A", "B", "C", "E", "F"),
        excluded,
    ).collect()
    assert got.schema == pl.Schema(loop.REVIEW_SCHEMA)
    return got


def test_review_lists_enrolled_members_whose_situation_changed_first_reason_only():
    enrolled = rtf(
        {"member_id": "A", "enrollment_start_date": D(2026, 5, 1)},
        {"member_id": "B"},
        {"member_id": "C"},
        {"member_id": "E"},
        {"member_id": "F"},
        {"member_id": "G", "ecm_status": "pending"},  # not enrolled: not reviewed
    )
    held = assignments(
        ("B", "X", P),
        ("C", "X", P),
        ("E", "X", P),
        ("F", "X", P),
        ("F", "Y", P),
        excluded={"C": "hospice;pace", "B": "ccm"},
    )
    previous = [("A", "X"), ("B", "X"), ("B", "Y"), ("B", "Z"), ("E", "X"), ("F", "X")]
    excluded = loop.exclusions_on(held, None)
    got = review(enrolled, held, previous, excluded=excluded)
    assert got.rows() == [
        ("A", P, "no_population", None, None, D(2026, 5, 1)),
        ("B", P, "fewer_populations", "Y;Z", None, None),  # before excluded
        ("C", P, "excluded", None, "hospice;pace", None),
    ]  # E holds what it held, F gained: no change to review


def test_review_of_a_member_who_left_the_plan_or_died():
    membership = loop.plan_membership(
        eligibility(
            {"member_id": "A", "birth_date": D(1980, 1, 1), "enrollment_end_date": D(2026, 9, 30)},
            {"member_id": "B", "birth_date": D(1950, 1, 1), "death_date": D(2026, 10, 3)},
            {"member_id": "C", "birth_date": D(1980, 1, 1)},
        ),
        AS_OF,
    )
    enrolled = rtf({"member_id": "A"}, {"member_id": "B"}, {"member_id": "C"})
    got = review(enrolled, assignments(), [("A", "X"), ("B", "X")], membership)
    assert got.select("member_id", "reason").rows() == [
        ("A", "left_plan"),
        ("B", "left_plan"),
        ("C", "no_population"),
    ]


def test_review_names_one_provider_the_latest_enrollment():
    enrolled = rtf(
        {"provider_npi": Q, "enrollment_start_date": D(2026, 3, 1)},
        {"provider_npi": P, "enrollment_start_date": D(2026, 6, 1)},
    )
    got = review(enrolled, assignments())
    assert got.select("member_id", "provider_npi", "enrollment_start_date").rows() == [
        ("A", P, D(2026, 6, 1))
    ]


# --- RTF rows for a member never sent -------------------------------------------------


def test_rtf_rows_of_pairs_never_listed_are_counted_per_provider():
    rows = rtf(
        {"member_id": "A"},  # listed with P
        {"member_id": "B"},  # listed unassigned only
        {"member_id": "B", "reporting_period": D(2026, 9, 1)},
        {"member_id": "C", "provider_npi": Q},
        {"member_id": "A", "provider_npi": Q},  # A was listed with P, not Q
        {"member_id": "E", "reporting_period": D(2026, 11, 1)},  # after D: not read yet
        {"member_id": "F", "provider_npi": Q},  # listed with Q after D only
    )
    listed = member_files(
        (D(2026, 9, 30), "A", P, "new"),
        (AS_OF, "B", None, "new"),
        (D(2026, 11, 30), "F", Q, "new"),
    )
    got = loop.unreferred_returns(rows, listed, AS_OF).collect()
    assert got.rows() == [(P, 2, 1), (Q, 3, 3)]


# --- the loop as the report counts it ---------------------------------------------------


@pytest.mark.parametrize(
    ("days_open", "band"),
    [(0, "0_30"), (30, "0_30"), (31, "31_60"), (60, "31_60"), (61, "61_90"), (90, "61_90"),
     (91, "over_90"), (400, "over_90"), (None, None)],
)  # fmt: skip
def test_an_open_loop_falls_in_one_age_band_at_the_bands_edges(days_open, band):
    got = pl.select(loop.open_age_band(pl.lit(days_open, dtype=pl.Int64))).item()
    assert got == band


def _referral(member, provider, state, *, attempts=0, days_open=None, overdue=False) -> dict:
    return {**dict.fromkeys(loop.REFERRAL_SCHEMA), "member_id": member, "provider_npi": provider,
            "opened_date": D(2026, 8, 31), "state": state, "outreach_attempts": attempts,
            "days_open": days_open, "is_overdue": overdue}  # fmt: skip


def test_the_loop_per_provider_counts_the_funnel_states_ages_left_out_and_review():
    refs = pl.LazyFrame(
        [
            _referral("A", P, "referred", days_open=0),
            _referral("B", P, "outreach", attempts=2, days_open=31),
            _referral("C", P, "reached", attempts=1, days_open=61, overdue=True),
            _referral("E", P, "pending", days_open=95, overdue=True),  # no OTF: outreach still
            _referral("F", P, "enrolled", attempts=1),
            _referral("G", P, "declined"),  # an RTF refusal without OTF rows: reached
            _referral("H", P, "unable_to_reach"),
            _referral("I", P, "not_eligible"),  # found not eligible: not counted as outreach
            _referral("J", P, "left_plan", attempts=3),  # the attempts say outreach
            _referral("K", Q, "discontinued"),
            _referral("L", Q, "excluded"),
        ],
        schema=loop.REFERRAL_SCHEMA,
    )
    listing = pl.LazyFrame(
        [("A", P, "new", None), ("M", P, None, "loop_closed"), ("N", Q, None,
         "enrolled_elsewhere"), ("O", None, "new", None), ("R", "3333333333", None,
         "loop_closed")],
        schema=loop.LISTING_SCHEMA,
        orient="row",
    )  # fmt: skip
    review = pl.LazyFrame(
        [("F", P, "no_population", None, None, None)], schema=loop.REVIEW_SCHEMA, orient="row"
    )
    got = {
        r["provider_npi"]: r
        for r in loop.loop_by_provider(refs, listing, review).collect().to_dicts()
    }
    assert list(got) == [P, Q, "3333333333"]  # a provider with members left out only, too
    p = got[P]
    assert p["funnel"] == {"referred": 9, "outreach": 7, "reached": 3}
    assert p["states"]["referred"] == 1 and p["states"]["declined"] == 1
    assert list(p["states"]) == list(loop.STATES)
    assert p["open"] == 4 and p["overdue"] == 2
    assert p["open_by_age"] == {"0_30": 1, "31_60": 1, "61_90": 1, "over_90": 1}
    assert p["left_out"] == {"loop_closed": 1, "enrolled_elsewhere": 0}
    assert p["review"] == 1
    q = got[Q]
    assert q["funnel"] == {"referred": 2, "outreach": 1, "reached": 1}  # discontinued: both
    assert q["left_out"] == {"loop_closed": 0, "enrolled_elsewhere": 1}
    assert (q["open"], q["review"]) == (0, 0)
    assert got["3333333333"]["funnel"]["referred"] == 0


def test_no_referral_no_provider_row():
    empty = loop.loop_by_provider(
        pl.LazyFrame(schema=loop.REFERRAL_SCHEMA),
        pl.LazyFrame(schema=loop.LISTING_SCHEMA),
        pl.LazyFrame(schema=loop.REVIEW_SCHEMA),
    ).collect()
    assert empty.height == 0 and "funnel" in empty.columns
