"""`ecm explain`: why a member holds each population and how close they came to the others,
read from a run's files; a member the run has nothing on is an error (exit 2)."""

import datetime as dt
import json
import re
import shutil

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.dates import RunDates
from ecm.deliver.explain import explain_member, source_text, why_not
from ecm.errors import EcmError
from ecm.ingest import ingest
from ecm.shards.evaluate import assign_populations, build_events, read_inputs
from tests.story import AS_OF, write_story


def write_run(out, result, rules) -> None:
    """The files explain reads, as a run writes them (summary.json: the keys it reads)."""
    out.mkdir(parents=True)
    result.assignments.write_parquet(out / "assignments.parquet")
    result.evidence.write_parquet(out / "evidence.parquet")
    result.member_metrics.write_parquet(out / "member_metrics.parquet")
    populations = {code: s.as_dict() for code, s in result.population_status.items()}
    summary = {
        "as_of_date": AS_OF.isoformat(),
        "rules": {"version": rules.version, "sha256": rules.sha256, "file": str(rules.path)},
        "populations": populations,
        "populations_not_evaluated": {
            c: p["missing_feeds"] for c, p in populations.items() if p["status"] == "not_evaluated"
        },
    }
    (out / "summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, rules, ref):
    """The story's run (no Prefect): the high utilisers and their near misses, no partner
    feeds."""
    folder = write_story(tmp_path_factory.mktemp("story") / "feeds")
    with duckdb.connect() as con:
        found = ingest(con, folder, rules, tmp_path_factory.mktemp("work"))
        inputs = read_inputs(con, frozenset(found.feeds), RunDates.of(rules, AS_OF).history_start)
    result = assign_populations(
        build_events(inputs, ref, rules, RunDates.of(rules, AS_OF)), inputs, rules
    )
    out = tmp_path_factory.mktemp("run") / "out"
    write_run(out, result, rules)
    return out


def why_not_lines(run_dir, member_id) -> dict[str, str]:
    text = explain_member(member_id, run_dir)
    tail = text.split("Why not:\n", 1)[1].splitlines()
    return dict(line.strip().split(": ", 1) for line in tail)


def metrics_row(run_dir, member_id) -> dict:
    metrics = pl.read_parquet(run_dir / "member_metrics.parquet")
    return metrics.filter(pl.col("member_id") == member_id).row(0, named=True)


def test_a_member_four_of_five_is_told_the_fifth_would_qualify(run_dir):
    text = explain_member("L", run_dir)  # four avoidable visits, the first a day early
    assert text.startswith("Member L (age 46, adult) holds no population.")
    assert why_not_lines(run_dir, "L")["HIGH_UTIL_ADULT"] == (
        "4 of 5 avoidable ED visits (the 5th would qualify); 0 of 3 avoidable unplanned stays"
    )


def test_a_child_is_measured_against_the_child_thresholds(run_dir):
    lines = why_not_lines(run_dir, "H")  # 14, two avoidable visits of three
    assert lines["HIGH_UTIL_CHILD"].startswith("2 of 3 avoidable ED visits (the 3rd would qualify)")
    assert lines["HIGH_UTIL_ADULT"] == "not an adult (age 14)"
    assert lines["SMI_SUD_CHILD"] == (
        "0 of 2 dates with a MH/SUD diagnosis; 0 of 1 MH/SUD ED visit, stay or crisis service"
    )


def test_a_member_holding_one_population_is_told_what_the_others_lack(run_dir):
    text = explain_member("K", run_dir)
    assert text.startswith("HIGH_UTIL_ADULT (adult) since 2026-07-01: 3 avoidable unplanned")
    lines = why_not_lines(run_dir, "K")
    assert "HIGH_UTIL_ADULT" not in lines  # held: explained above, not under "Why not"
    assert lines["CCS_CHILD"] == "not evaluated (no ccs_enrollment feed)"
    assert lines["JUSTICE_ADULT"] == "not evaluated (no incarceration feed)"
    assert lines["HIGH_UTIL_CHILD"] == "not a child/youth (age 46)"
    # the run had no homelessness feed: said, not silently counted as none
    assert lines["HOMELESS_ADULT"].endswith("(partially evaluated: no homelessness feed)")


def test_near_another_population_part_by_part(run_dir, rules):
    """Tiny rows: a high utiliser with an SMI diagnosis and no complex social factor, and
    one released from jail without a diagnosis in the 24 months."""
    base = metrics_row(run_dir, "K")
    populations = {
        "HIGH_UTIL_ADULT": {"status": "evaluated"},
        "SMI_SUD_ADULT": {"status": "evaluated"},
        "JUSTICE_ADULT": {"status": "evaluated"},
        "LTC_RISK_ADULT": {"status": "evaluated"},
    }
    near_smi = {**base, "smi_dx_dates_12m": 3, "has_csf": False}
    (smi, justice, ltc) = why_not(near_smi, {"HIGH_UTIL_ADULT"}, populations, rules.data)
    assert smi == (
        "SMI_SUD_ADULT: SMI/SUD diagnosis yes; complex social factor: none in the lookback; "
        "acute need yes"
    )
    assert justice.startswith("JUSTICE_ADULT: no release in the lookback; ")
    assert ltc.startswith("LTC_RISK_ADULT: complex social factor: none in the lookback")
    released = {**base, "incarceration_release_dates_12m": 1, "has_csf": True}
    released.update({k: 0 for k in base if k.endswith("_dates_24m")})
    lines = why_not(released, set(), {"JUSTICE_ADULT": {"status": "evaluated"}}, rules.data)
    assert lines == [
        "JUSTICE_ADULT: release in the lookback yes; no MH/SUD, chronic, I/DD, TBI, HIV/AIDS "
        "or pregnancy diagnosis in the 24 months"
    ]


def test_evidence_keys_read_as_claims_feed_rows_and_households():
    assert source_text("medical_claim", "c1") == "claim c1"
    assert source_text("medical_claim", "c1; c2") == "claims c1; c2"
    assert source_text("homelessness", "homelessness.csv:14") == "homelessness.csv:14"
    assert source_text("eligibility", "S9") == "household (subscriber_id S9)"


def test_explain_lines_name_the_claim(run_dir):
    assert "  2025-11-01  avoidable_ed_visit" in explain_member("A", run_dir)
    assert "claim A-ed0  J069" in explain_member("A", run_dir)


@pytest.mark.parametrize("member_id", ["NOBODY", "E", "F"])  # unknown, dead, disenrolled
def test_a_member_the_run_has_nothing_on_is_an_error(run_dir, member_id):
    with pytest.raises(EcmError, match=f"Member {member_id} was not enrolled on the run's as-of"):
        explain_member(member_id, run_dir)


def test_a_changed_rules_file_shows_counts_without_thresholds(run_dir, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    for f in run_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    summary = json.loads((copy / "summary.json").read_text())
    summary["rules"]["sha256"] = "0" * 64
    (copy / "summary.json").write_text(json.dumps(summary))
    text = explain_member("L", copy)
    assert "changed since the run: no thresholds" in text
    assert "HIGH_UTIL_ADULT: 4 avoidable ED visits; 0 avoidable unplanned stays" in text


def test_the_cli_explains_and_exits_2_for_a_member_not_enrolled(run_dir):
    runner = CliRunner()
    ok = runner.invoke(main, ["explain", "L", "--run", str(run_dir)])
    assert ok.exit_code == 0, ok.output
    assert "HIGH_UTIL_ADULT: 4 of 5 avoidable ED visits (the 5th would qualify)" in ok.output
    missing = runner.invoke(main, ["explain", "NOBODY", "--run", str(run_dir)])
    assert missing.exit_code == 2
    assert "ecm: Member NOBODY was not enrolled" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_why_not_never_reads_as_met_for_a_population_not_held(rules, ref, tmp_path):
    """Every population of focus, every feed present (tests/story_pof.py): for each member
    and population they do not hold, the line names something not met."""
    from tests.story_pof import AS_OF as POF_AS_OF
    from tests.story_pof import write_story as write_pof_story

    folder = write_pof_story(tmp_path / "feeds")
    with duckdb.connect() as con:
        found = ingest(con, folder, rules, tmp_path / "work")
        inputs = read_inputs(
            con, frozenset(found.feeds), RunDates.of(rules, POF_AS_OF).history_start
        )
    result = assign_populations(
        build_events(inputs, ref, rules, RunDates.of(rules, POF_AS_OF)), inputs, rules
    )
    statuses = {code: s.as_dict() for code, s in result.population_status.items()}
    held = result.assignments.group_by("member_id").agg("pof_code")
    held = dict(zip(held["member_id"], held["pof_code"], strict=True))
    lines = [
        line
        for m in result.member_metrics.iter_rows(named=True)
        for line in why_not(m, set(held.get(m["member_id"], [])), statuses, rules.data)
    ]
    assert lines
    negatives = ("none", "no ", "not ", " would qualify", "0 of ", "but race")
    assert [line for line in lines if not any(n in line for n in negatives)] == []
    counts = [re.findall(r"([\d.]+) of ([\d.]+) ", line) for line in lines]
    # every count is an alternative (an OR): one at its threshold would hold the population
    assert [c for c in counts if any(float(n) >= float(t) for n, t in c)] == []


def _with_member_renamed(run_dir, tmp_path, old, new):
    """A copy of the run whose member `old` is called `new` in every file explain reads."""
    copy = tmp_path / "run"
    copy.mkdir()
    for f in run_dir.iterdir():
        if f.suffix == ".parquet":
            frame = pl.read_parquet(f).with_columns(
                pl.when(pl.col("member_id") == old)
                .then(pl.lit(new))
                .otherwise(pl.col("member_id"))
                .alias("member_id")
            )
            frame.write_parquet(copy / f.name)
        else:
            (copy / f.name).write_bytes(f.read_bytes())
    return copy


def test_an_id_starting_with_a_dash_is_explained_as_typed(run_dir, tmp_path):
    """Real extracts have ids such as -1000018: not an option, whatever their place."""
    copy = _with_member_renamed(run_dir, tmp_path, "L", "-1000018")
    runner = CliRunner()
    for args in (
        ["explain", "-1000018", "--run", str(copy)],
        ["explain", "--run", str(copy), "-1000018"],
        ["explain", "--run", str(copy), "--", "-1000018"],  # the usual escape still works
        ["explain", "--all", "-1000018", "--run", str(copy)],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        assert result.output.startswith("Member -1000018 (age 46, adult) holds no population.")


def test_a_dashed_id_no_run_has_is_an_error_naming_it(run_dir):
    result = CliRunner().invoke(main, ["explain", "-99", "--run", str(run_dir)])
    assert result.exit_code == 2
    assert "ecm: Member -99 was not enrolled" in result.output


def test_options_are_still_options(run_dir):
    assert "Usage:" in CliRunner().invoke(main, ["explain", "--help"]).output
    result = CliRunner().invoke(main, ["explain", "L", "--run"])
    assert result.exit_code == 2 and "requires an argument" in result.output


@pytest.mark.parametrize("typed", [" L", "L ", "  L  "])
def test_the_id_is_trimmed_as_the_ingest_trims_it(run_dir, typed):
    assert explain_member(typed, run_dir).startswith("Member L (age 46, adult)")
    result = CliRunner().invoke(main, ["explain", typed, "--run", str(run_dir)])
    assert result.exit_code == 0 and result.output.startswith("Member L (age 46")


def test_only_what_the_ingest_trims_is_trimmed(run_dir):
    """The ingest trims spaces (DuckDB's trim), not a tab: an id delivered as "L<tab>" is
    staged as typed, so "L<tab>" is not L."""
    with pytest.raises(EcmError, match="Member L\t was not enrolled"):
        explain_member("L\t", run_dir)


def test_an_id_of_spaces_is_an_error(run_dir):
    result = CliRunner().invoke(main, ["explain", "   ", "--run", str(run_dir)])
    assert result.exit_code == 2
    assert "ecm: The member id is empty" in result.output


# --- the referral loop: a member's referrals and member information file ------------------

P, Q = "1111111111", "2222222222"


def _with_the_loop(run_dir, tmp_path):
    """A copy of the story's run as the referral loop leaves it: A, G, I and K with
    provider P, CH3 with none; referrals.parquet and the member information files. A is
    listed `continuing` (reached, overdue); G is enrolled with Q and I with a provider
    never sent them (both left out of P's file); K declined (left out till re-referred);
    CH3 is in unassigned/; L, holding nothing, has a referral that ended in enrolment."""
    from transforms.loop import REFERRAL_SCHEMA

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assignments = pl.read_parquet(copy / "assignments.parquet").with_columns(
        pl.when(pl.col("member_id") == "CH3").then(None).otherwise(pl.lit(P)).alias("provider_npi")
    )
    assignments.write_parquet(copy / "assignments.parquet")
    opened = dt.date(2026, 8, 31)

    def referral(member, provider, state, state_date, **more):
        return {**dict.fromkeys(REFERRAL_SCHEMA), "member_id": member, "provider_npi": provider,
                "opened_date": opened, "state": state, "state_date": state_date,
                "outreach_attempts": 0, "is_overdue": False, **more}  # fmt: skip

    pl.DataFrame(
        [
            referral(
                "A",
                P,
                "reached",
                dt.date(2026, 9, 12),
                outreach_attempts=2,
                last_outreach_date=dt.date(2026, 9, 12),
                days_open=61,
                is_overdue=True,
            ),
            referral("G", P, "referred", opened, days_open=61, is_overdue=True),
            referral(
                "G", Q, "enrolled", dt.date(2026, 9, 20), enrollment_start_date=dt.date(2026, 9, 20)
            ),
            referral(
                "I",
                P,
                "outreach",
                dt.date(2026, 9, 2),
                outreach_attempts=1,
                last_outreach_date=dt.date(2026, 9, 2),
                days_open=61,
                is_overdue=True,
            ),
            referral("K", P, "declined", dt.date(2026, 9, 3), closure_reason="declined"),
            referral(
                "L",
                P,
                "discontinued",
                dt.date(2026, 10, 2),
                enrollment_start_date=dt.date(2026, 9, 1),
                enrollment_end_date=dt.date(2026, 10, 2),
                discontinuation_reason_code="SC",
            ),
        ],
        schema=REFERRAL_SCHEMA,
    ).write_parquet(copy / "referrals.parquet")
    for folder, rows in ((P, [("A", "continuing")]), ("unassigned", [("CH3", "new")])):
        (copy / "providers" / folder).mkdir(parents=True)
        pl.DataFrame(
            [("x", m, s, folder) for m, s in rows],
            schema=["MCP Identifier", "Member CIN", "Assignment Status", "ECM Provider NPI"],
            orient="row",
        ).write_csv(copy / "providers" / folder / f"ECM_MIF_{folder}_202610.txt", separator="|")
    return copy


def _loop_part(text: str) -> list[str]:
    return text[text.index("Referrals on") :].splitlines()


def test_explain_says_each_referral_state_and_the_file_that_lists_the_member(run_dir, tmp_path):
    run = _with_the_loop(run_dir, tmp_path)
    lines = _loop_part(explain_member("A", run))
    assert lines[0] == "Referrals on 2026-10-31 (referrals.parquet):"
    assert lines[1].split() == ["provider", "opened", "state", "since", "days", "open", "overdue"]
    assert lines[2].split() == [P, "2026-08-31", "reached", "2026-09-12", "61", "yes", "(over",
                                "60", "days)"]  # fmt: skip
    assert lines[3].strip() == "2 outreach attempts, the last 2026-09-12"
    assert lines[4] == (
        f"Member information file: ECM_MIF_{P}_202610.txt (provider {P}), Assignment Status "
        "continuing: listed before, the loop still open."
    )
    unassigned = _loop_part(explain_member("CH3", run))
    assert unassigned[0] == (
        "Referrals on 2026-10-31: none (no provider's member information file has listed them)."
    )
    assert unassigned[1].startswith(
        "Member information file: ECM_MIF_unassigned_202610.txt (unassigned/), Assignment "
        "Status new: no ECM provider"
    )


def test_explain_says_why_a_member_is_left_out_of_the_providers_file(run_dir, tmp_path):
    run = _with_the_loop(run_dir, tmp_path)
    declined = _loop_part(explain_member("K", run))
    assert declined[2].split()[2:] == ["declined", "2026-09-03", "—", "—", "(closed)"]
    assert declined[-1] == (
        f"Member information file: left out of provider {P}'s file: its loop closed as "
        "declined on 2026-09-03 (loop_closed); it is listed again from 2027-03-03 (6 months "
        "after it closed), or sooner if the member gains a population."
    )
    elsewhere = _loop_part(explain_member("G", run))
    assert [line.split()[:3] for line in elsewhere[2:4]] == [
        [P, "2026-08-31", "referred"],
        [Q, "2026-08-31", "enrolled"],
    ]
    assert elsewhere[-1] == (
        f"Member information file: left out of provider {P}'s file: enrolled in ECM with "
        f"provider {Q} since 2026-09-20 (enrolled_elsewhere)."
    )
    assert "(enrolled_elsewhere; a provider never sent the member" in explain_member("I", run)


def test_explain_names_a_discontinuation_reason_and_a_member_holding_nothing(run_dir, tmp_path):
    text = explain_member("L", _with_the_loop(run_dir, tmp_path))
    lines = _loop_part(text)
    assert (
        lines[3].strip()
        == "enrolled 2026-09-01 .. 2026-10-02; discontinued: SC (successfully completed)"
    )
    assert lines[4] == ("Member information file: none lists the member (they hold no population).")


def test_a_run_from_before_the_loop_says_nothing_of_it(run_dir):
    assert "Referrals on" not in explain_member("K", run_dir)
    assert "Member information file" not in explain_member("K", run_dir)
