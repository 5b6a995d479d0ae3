"""The provider simulator (ecm.generate.providers): what ECM providers send back (RTF,
OTF) answering a run's member information files, seeded, staged by the ingest with
nothing quarantined, under DHCS's headers or ours, in the providers' own spellings that
the packaged rules file's [loop.aliases] cover; an enrolled member stays enrolled month
to month until discontinued."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data_contracts import load_contract
from ecm.config.rules import load_rules
from ecm.errors import InputError, OutputError
from ecm.generate import generate_feeds, palette
from ecm.generate.claims import ECM_PROVIDER_NPIS
from ecm.generate.marker import generated_files
from ecm.generate.providers import (
    OTF,
    RTF,
    AnswerShares,
    simulate_providers,
)
from ecm.ingest import ingest
from tests.feeds import line, member, write_feed

D = dt.date
SEPTEMBER, OCTOBER, NOVEMBER = D(2026, 9, 30), D(2026, 10, 31), D(2026, 11, 30)
MEMBERS_PER_PROVIDER = 40
NPIS = ECM_PROVIDER_NPIS  # every style of palette.PROVIDER_FILE_STYLES, three times
MIF_HEADER = [
    "MCP Identifier",
    "Member CIN",
    "Assignment Status",
    "ECM Provider NPI",
    "MIF Reporting Period",
]


def _members(npi_place: int, count: int = MEMBERS_PER_PROVIDER) -> list[str]:
    return [f"M{npi_place:02d}{i:04d}" for i in range(count)]


def _run(folder: Path, as_of: dt.date, listed: dict[str, list[tuple[str, str]]]) -> Path:
    """A run's output folder as the simulator reads it: summary.json's as-of date and
    each provider's member information file (the columns it reads, and a few more)."""
    for npi, rows in listed.items():
        mif = folder / "providers" / npi / f"ECM_MIF_{npi}_{as_of:%Y%m}.txt"
        mif.parent.mkdir(parents=True, exist_ok=True)
        lines = ["|".join(MIF_HEADER)] + [
            f"000000000|{m}|{status}|{npi}|{as_of:%Y-%m}" for m, status in rows
        ]
        mif.write_text("\n".join(lines) + "\n", encoding="utf-8")
    unassigned = folder / "providers" / "unassigned" / f"ECM_MIF_unassigned_{as_of:%Y%m}.txt"
    unassigned.parent.mkdir(parents=True, exist_ok=True)
    unassigned.write_text("|".join(MIF_HEADER) + "\nx|U1|new||x\n", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"as_of_date": as_of.isoformat()}))
    return folder


def _everyone(status: str = "new", count: int = MEMBERS_PER_PROVIDER):
    return {npi: [(m, status) for m in _members(i, count)] for i, npi in enumerate(NPIS)}


def _feeds(folder: Path) -> Path:
    members = [m for i in range(len(NPIS)) for m in _members(i)]
    write_feed(folder, "eligibility", [member(m) for m in members])
    write_feed(folder, "medical_claim", [line("c1", members[0], "2026-01-05")])
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent != folder
    }


def _answered(feeds: Path, period: str, feed: str = RTF) -> pl.DataFrame:
    """The simulator's drops of one feed and period, under our column names, as text."""
    from ecm.generate.providers import _as_contract_columns, _read_drop

    contract = load_contract(feed)
    frames = [
        _as_contract_columns(_read_drop(p), contract, list(contract.columns))
        for p in sorted((feeds / feed).glob(f"*_{period}.*"))
    ]
    return pl.concat(frames)


@pytest.fixture(scope="module")
def three_months(tmp_path_factory):
    """A feed folder answered three times: September's MIFs list everyone, October's and
    November's the same members (`continuing`)."""
    root = tmp_path_factory.mktemp("providers")
    feeds = _feeds(root / "feeds")
    runs = {}
    for as_of, status in ((SEPTEMBER, "new"), (OCTOBER, "continuing"), (NOVEMBER, "continuing")):
        runs[as_of] = _run(root / f"{as_of:%Y-%m}", as_of, _everyone(status))
        simulate_providers(runs[as_of], feeds, seed=7)
    return feeds, runs


@pytest.fixture(scope="module")
def staged(three_months, tmp_path_factory):
    feeds, _ = three_months
    with duckdb.connect() as con:
        result = ingest(con, feeds, load_rules(), tmp_path_factory.mktemp("work"))
        tables = {
            feed: con.sql(f"select * from stg__{feed} order by _source_file, _line").pl()
            for feed in (RTF, OTF)
        }
        quarantined = con.sql("select feed, rule, detail from quarantine").fetchall()
    return result, tables, quarantined


# --- determinism ------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes_another_seed_does_not(tmp_path):
    run = _run(tmp_path / "run", SEPTEMBER, _everyone(count=10))
    written = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        feeds = tmp_path / name
        feeds.mkdir()
        simulate_providers(run, feeds, seed=seed)
        written[name] = _digests(feeds)
    assert written["a"] == written["b"]
    assert written["a"] != written["c"]
    assert any(k.endswith(".xlsx") for k in written["a"])  # a workbook's bytes too


def test_answering_a_month_again_replaces_its_files_with_the_same_bytes(three_months):
    feeds, runs = three_months
    before = _digests(feeds)
    simulate_providers(runs[OCTOBER], feeds, seed=7)  # the earlier drops are September's
    assert _digests(feeds) == before


# --- what is written, and that it stages --------------------------------------------------


def test_every_file_stages_and_nothing_is_quarantined(three_months, staged):
    feeds, _ = three_months
    result, tables, quarantined = staged
    assert quarantined == []
    for feed in (RTF, OTF):
        counts = result.feeds[feed]
        assert counts.read == counts.staged > 0 and counts.quarantined == 0
        files = sorted(p.name for p in (feeds / feed).iterdir())
        assert counts.files == len(files)
        assert {Path(f).suffix for f in files} == {".csv", ".xlsx"}
        assert sum(f.endswith(".csv") for f in files) > sum(f.endswith(".xlsx") for f in files)
        # one file per provider per month, named by the MIF's reporting period
        periods = {f.rsplit("_", 1)[1].split(".")[0] for f in files}
        assert periods == {"202609", "202610", "202611"}
    rtf = tables[RTF]
    assert set(rtf["reporting_period"]) == {D(2026, 9, 1), D(2026, 10, 1), D(2026, 11, 1)}
    # the template's Acuity Level is kept (an unknown column), as every feed's are
    assert set(rtf["acuity level"].drop_nulls()) == {"High", "Medium", "Low"}


def test_dhcs_headers_and_our_column_names_both_load(three_months, staged):
    feeds, _ = three_months
    _, tables, _ = staged
    by_header = {"dhcs": set(), "ecm": set()}
    for feed in (RTF, OTF):
        contract = load_contract(feed)
        dhcs_member = contract.spec("member_id").aliases[0]
        for path in (feeds / feed).iterdir():
            if path.suffix == ".csv":
                header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
            else:
                header = pl.read_excel(path).columns
            kind = "dhcs" if header[0] == dhcs_member else "ecm"
            assert header[0] == ("member_id" if kind == "ecm" else dhcs_member)
            by_header[kind].add(path.name)
            source = tables[feed].filter(pl.col("_source_file").str.ends_with(path.name))
            assert source.height > 0 and source["member_id"].null_count() == 0, path.name
            assert source["provider_npi"].unique().to_list() == [path.name.split("_")[2]]
    assert by_header["dhcs"] and by_header["ecm"]
    assert any(name.endswith(".xlsx") for name in by_header["dhcs"])


def test_providers_own_spellings_are_written_and_staged_as_the_allowed_values(three_months, staged):
    feeds, _ = three_months
    _, tables, _ = staged
    written = pl.concat(
        [_answered(feeds, p) for p in ("202609", "202610", "202611")], how="vertical"
    )
    spelled = set(written["ecm_status"])
    assert {"Enrolled - Active", "E", "In Progress", "Unable to Reach", "Enrolled"} <= spelled
    attempts = pl.concat([_answered(feeds, p, OTF) for p in ("202609", "202610", "202611")])
    assert {"Telephone", "Unsuccessful", "SMS", "Phone Call", "Yes"} <= set(
        attempts["method"].to_list() + attempts["successful"].to_list()
    )
    rtf, otf = tables[RTF], tables[OTF]
    contract = load_contract(RTF)
    for column in ("ecm_status", "referral_status", "referral_closure_reason"):
        assert set(rtf[column].drop_nulls()) <= set(contract.spec(column).allowed_values)
    assert set(rtf["discontinuation_reason_code"].drop_nulls()) <= {
        c for c, _ in palette.DISCONTINUATION_REASONS
    }
    assert set(otf["method"]) == {m for m, _ in palette.OUTREACH_METHODS}
    assert set(otf["successful"]) == {"Y", "N"}


def test_every_spelling_of_the_palette_is_covered_by_the_packaged_aliases():
    """So that whatever a seed draws stages: each spelling is an allowed value in another
    case, or an alias of the packaged rules file's [loop.aliases.<column>] (Yes/No are
    read as Y/N without one)."""
    rules = load_rules()
    specs = {s.name: s for feed in (RTF, OTF) for s in load_contract(feed).specs}
    for spelling, columns in palette.PROVIDER_SPELLINGS.items():
        for column, values in columns.items():
            spec = specs[column]
            aliases = {
                k.strip().lower(): v for k, v in rules.setting(spec.value_aliases_named_by).items()
            }
            for allowed, written in values.items():
                assert allowed in spec.allowed_values, (spelling, column, allowed)
                folded = written.strip().lower()
                yes_no = {"yes": "Y", "no": "N"} if spec.type == "yes_no" else {}
                covered = (
                    folded == allowed.lower()
                    or aliases.get(folded) == allowed
                    or yes_no.get(folded) == allowed
                )
                assert covered, (spelling, column, written)
    styles = {s[2] for s in palette.PROVIDER_FILE_STYLES} - {""}
    assert styles == set(palette.PROVIDER_SPELLINGS)


# --- the outcomes ---------------------------------------------------------------------------


def test_every_state_is_answered_and_attempts_fall_after_the_as_of_date(staged):
    _, tables, _ = staged
    rtf, otf = tables[RTF], tables[OTF]
    september = rtf.filter(pl.col("reporting_period") == D(2026, 9, 1))
    assert set(september["ecm_status"]) == {
        "enrolled", "pending", "declined", "unable_to_reach", "not_eligible"
    }  # fmt: skip
    assert "discontinued" in set(rtf["ecm_status"])  # in a later month
    enrolled = september.filter(pl.col("ecm_status") == "enrolled")
    assert enrolled["enrollment_start_date"].min() > SEPTEMBER
    assert enrolled["enrollment_start_date"].max() <= OCTOBER
    assert (september["file_production_date"] > SEPTEMBER).all()
    first = otf.filter(
        pl.col("_source_file").str.ends_with("_202609.csv")
        | pl.col("_source_file").str.ends_with("_202609.xlsx")
    )
    assert first["attempt_date"].min() > SEPTEMBER and first["attempt_date"].max() <= OCTOBER
    assert set(first["successful"]) == {"Y", "N"}
    # one row per attempt: never two of one member, provider, day and method
    assert otf.select("member_id", "provider_npi", "attempt_date", "method").is_unique().all()


def test_an_enrolled_member_stays_enrolled_until_discontinued(tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    npi = NPIS[1]  # our column names, ISO dates
    everyone = [(m, "new") for m in _members(1, 12)]
    enrol_all = AnswerShares(referral_outcomes=(("enrolled", 1.0),), discontinued=0.0)
    simulate_providers(_run(tmp_path / "sep", SEPTEMBER, {npi: everyone}), feeds, shares=enrol_all)
    september = _answered(feeds, "202609")
    assert set(september["ecm_status"]) == {"enrolled"} and september.height == 12
    starts = dict(september.select("member_id", "enrollment_start_date").iter_rows())
    # October's MIF lists half of them: the provider still reports all 12, enrolled since
    # the same day (an enrolled member no longer listed is what the plan reviews)
    october_run = _run(
        tmp_path / "oct", OCTOBER, {npi: [(m, "continuing") for m, _ in everyone[:6]]}
    )
    simulate_providers(october_run, feeds, shares=enrol_all)
    october = _answered(feeds, "202610")
    assert set(october["ecm_status"]) == {"enrolled"}
    assert dict(october.select("member_id", "enrollment_start_date").iter_rows()) == starts
    assert set(october["enrollment_end_date"]) == {None}
    # November: every enrolled member is discontinued, with a date, an end and a reason
    leave_all = AnswerShares(discontinued=1.0)
    simulate_providers(_run(tmp_path / "nov", NOVEMBER, {npi: []}), feeds, shares=leave_all)
    november = _answered(feeds, "202611")
    assert set(november["ecm_status"]) == {"discontinued"} and november.height == 12
    assert dict(november.select("member_id", "enrollment_start_date").iter_rows()) == starts
    assert (november["enrollment_end_date"] == november["discontinuation_date"]).all()
    ends = november["discontinuation_date"].str.to_date()
    assert ends.min() > NOVEMBER
    assert set(november["discontinuation_reason_code"]) <= {
        c for c, _ in palette.DISCONTINUATION_REASONS
    }
    # December: a discontinued member is not answered, unless the plan refers them again
    december = D(2026, 12, 31)
    again = [(everyone[0][0], "re-referral"), (everyone[1][0], "continuing")]
    answers = simulate_providers(
        _run(tmp_path / "dec", december, {npi: again}), feeds, shares=enrol_all
    )
    assert answers.outcomes == {"closed": 1, "enrolled": 1}
    assert _answered(feeds, "202612")["member_id"].to_list() == [everyone[0][0]]


def test_a_member_enrolled_with_another_provider_is_not_eligible_there(tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    first, second = NPIS[1], NPIS[5]  # both write our column names
    enrol_all = AnswerShares(referral_outcomes=(("enrolled", 1.0),), discontinued=0.0)
    simulate_providers(
        _run(tmp_path / "sep", SEPTEMBER, {first: [("A1", "new")]}), feeds, shares=enrol_all
    )
    run = _run(tmp_path / "oct", OCTOBER, {second: [("A1", "new")]})
    answers = simulate_providers(run, feeds, shares=enrol_all)
    assert answers.outcomes == {"not_eligible": 1, "stays_enrolled": 1}
    october = _answered(feeds, "202610").sort("provider_npi")
    assert october.select("provider_npi", "ecm_status").rows() == sorted(
        [(first, "enrolled"), (second, "not_eligible")]
    )


def test_the_shares_are_parameters_checked_when_made():
    assert AnswerShares().referral_outcomes == palette.REFERRAL_OUTCOMES
    assert abs(sum(s for _, s in palette.REFERRAL_OUTCOMES) - 1) < 1e-9
    with pytest.raises(ValueError, match="adding up to 1"):
        AnswerShares(referral_outcomes=(("enrolled", 0.5), ("declined", 0.4)))
    with pytest.raises(ValueError, match="expected each of"):
        AnswerShares(referral_outcomes=(("enroled", 1.0),))
    with pytest.raises(ValueError, match="discontinued"):
        AnswerShares(discontinued=1.5)


# --- the folders ----------------------------------------------------------------------------


def test_a_folder_that_is_no_run_output_is_a_sentence(tmp_path):
    (tmp_path / "feeds").mkdir()
    with pytest.raises(InputError, match=r"summary\.json"):
        simulate_providers(tmp_path, tmp_path / "feeds")
    with pytest.raises(InputError, match="no member information file of 2026-09"):
        simulate_providers(tmp_path, tmp_path / "feeds", as_of=SEPTEMBER)


def test_the_drops_join_the_generators_list_and_nothing_else_is_overwritten(tmp_path):
    feeds = tmp_path / "feeds"
    generate_feeds(feeds, members=30, months=1, end=SEPTEMBER, seed=1)
    run = _run(tmp_path / "run", SEPTEMBER, {NPIS[1]: [("M00000001", "new")]})
    shares = AnswerShares(referral_outcomes=(("enrolled", 1.0),))
    answers = simulate_providers(run, feeds, shares=shares)
    names = [str(p.relative_to(feeds)) for p in answers.files]
    assert names == [
        f"provider_return/ECM_RTF_{NPIS[1]}_202609.csv",
        f"outreach/ECM_OTF_{NPIS[1]}_202609.csv",
    ]
    assert set(names) <= set(generated_files(feeds))
    # a later generation removes them with its own files
    generate_feeds(feeds, members=30, months=1, end=SEPTEMBER, seed=1)
    assert not any((feeds / n).exists() for n in names)
    # a file of the same name the generator did not write is never overwritten
    foreign = feeds / names[1]
    foreign.parent.mkdir(exist_ok=True)
    foreign.write_text("mine\n")
    with pytest.raises(OutputError, match="was not written by ecm generate"):
        simulate_providers(run, feeds, shares=shares)
    assert foreign.read_text() == "mine\n" and not (feeds / names[0]).exists()


# --- ecm generate --answer ----------------------------------------------------------------


def test_ecm_generate_answer_writes_the_simulators_files(tmp_path):
    from click.testing import CliRunner

    from ecm.cli import main

    run = _run(tmp_path / "run", SEPTEMBER, _everyone(count=5))
    (tmp_path / "by_hand").mkdir()
    simulate_providers(run, tmp_path / "by_hand", seed=3)
    (tmp_path / "feeds").mkdir()
    args = ["generate", "--answer", str(run), "--out", str(tmp_path / "feeds"), "--seed", "3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _digests(tmp_path / "feeds") == _digests(tmp_path / "by_hand")
    assert "reporting period 2026-09" in result.output
    assert "the next run reads them: --as-of 2026-10-31" in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--answer", "RUN", "--members", "5"], "--members do not apply"),
        (["--answer", "RUN", "--end", "2026-10-31", "--format", "csv"], "--end, --format do not"),
        (["--months", "3"], "Missing option --members (or --answer RUN)"),
        (["--answer", "RUN"], "summary.json"),
    ],
)
def test_ecm_generate_answer_refuses_what_does_not_apply(tmp_path, args, said):
    from click.testing import CliRunner

    from ecm.cli import main

    args = [str(tmp_path) if a == "RUN" else a for a in args]
    result = CliRunner().invoke(main, ["generate", *args, "--out", str(tmp_path / "feeds")])
    assert result.exit_code == 2
    assert said in result.output
    assert "Traceback" not in result.output
