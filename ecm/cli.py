"""The `ecm` command."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from ecm.config.dates import default_as_of
from ecm.errors import (
    EcmError,
    Interrupted,
    MachineError,
    OutputError,
    SanityGuardError,
)
from ecm.run import progress
from ecm.run.logs import configure_logging
from ecm.run.machine import machine_error

DATE = click.DateTime(formats=["%Y-%m-%d"])


EXIT_INTERNAL, EXIT_INPUT, EXIT_GUARD, EXIT_MACHINE = 1, 2, 3, 4


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, SanityGuardError):
        return EXIT_GUARD
    if isinstance(exc, MachineError):
        return EXIT_MACHINE
    if isinstance(exc, EcmError):
        return EXIT_INPUT
    return EXIT_INTERNAL


def _fail(exc: BaseException, *, as_json: bool = False) -> NoReturn:
    """Report a failure as one paragraph (or one JSON object) and exit with its code
    (outputs.md): 2 input, rules file or option; 3 a sanity guard; 4 the machine (a full
    disk, a folder that cannot be written, memory); 130 / 143 interrupted; 1 internal."""
    progress.close(failed=True)  # the live display ends above the error
    if isinstance(exc, Interrupted):
        _interrupted(exc, as_json)
    # The machine's faults that no code translated where their path is known: by the
    # exception's type and errno (ecm.run.machine), still exit 4, never "a bug".
    exc = machine_error(exc) or exc
    code = _exit_code(exc)
    if isinstance(exc, EcmError):
        kind = {EXIT_GUARD: "sanity_guard", EXIT_MACHINE: "machine"}.get(code, "input")
        message = str(exc)
    else:
        # An internal failure: name where it happened, not the values it held (a
        # library's message may quote a row). ECM_DEBUG=1 shows the whole traceback.
        kind = "internal"
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" in {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        message = (
            f"internal error: {type(exc).__name__}{where}. This is a bug in ecm, not in the "
            f"input; nothing was replaced. Run again with ECM_DEBUG=1 to see the traceback "
            f"(it may quote data values) and report it."
        )
        if os.environ.get("ECM_DEBUG"):
            traceback.print_exception(exc)
    _say(kind, code, message, as_json=as_json, summary=getattr(exc, "summary", None))
    _release_frames(exc)
    sys.exit(code)


def _say(kind: str, code: int, message: str, *, as_json: bool, summary: dict | None = None) -> None:
    """The failure's paragraph on stderr (`ecm: …`), or under --json one JSON object
    (level, error kind, exit code, message, the refused run's summary)."""
    if as_json:
        record = {"level": "error", "error": kind, "exit_code": code, "message": message}
        if summary:
            record["summary"] = summary
        click.echo(json.dumps(record, default=str), err=True)
    else:
        click.echo(f"ecm: {message}", err=True)
        if summary:
            from ecm.deliver.console import print_summary

            print_summary(summary, None, console=Console(stderr=True))


def _interrupted(exc: Interrupted, as_json: bool) -> NoReturn:
    """Say the interruption (unless the watcher already has), end the run's processes
    still there (ecm.run.interrupts), exit 128 + signal."""
    from ecm.run import interrupts

    if interrupts.claim_report():
        _say("interrupted", exc.exit_code, interrupts.sentence(exc), as_json=as_json)
    if interrupts.received() is not None:  # a real signal, in the command's own process
        interrupts.end_run_processes()
    _release_frames(exc)
    sys.exit(exc.exit_code)


RUN_KEEPS = "--out and the warehouse"


@contextlib.contextmanager
def _watched(as_json: bool, kept: str | None = RUN_KEEPS):
    """SIGINT and SIGTERM end the command's run within seconds, its processes with it
    (ecm.run.interrupts); the watcher says it in the command's format if it must. `kept`:
    what the sentence says is as it was."""
    from ecm.run import interrupts

    def say(exc: Interrupted) -> None:
        _say("interrupted", exc.exit_code, interrupts.sentence(exc), as_json=as_json)

    with interrupts.watching(say, kept):
        try:
            yield
        except Interrupted as exc:  # a signal between the guarded call and the block's end
            _fail(exc, as_json=as_json)


def _release_frames(exc: BaseException | None) -> None:
    """Drop the local variables of the failed call's frames (open DuckDB connections
    among them) so the interpreter exits cleanly, without DuckDB's leak notices."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
    gc.collect()


def _guarded(func, *, as_json: bool):
    """Call func(); any failure becomes a one-paragraph error and its exit code. A run
    that a signal reached ends as interrupted whatever it raised (ecm.run.interrupts)."""
    from ecm.run import interrupts

    try:
        result = func()
    except SystemExit:
        raise
    except BaseException as exc:  # every failure is reported, none as a traceback
        interrupted = interrupts.interruption(exc)
        if interrupted is not None:
            _fail(interrupted, as_json=as_json)
        if not isinstance(exc, Exception):
            raise
        _fail(exc, as_json=as_json)
    number = interrupts.received()
    if number is not None:  # it finished, but a signal came: it still ends as asked
        _fail(Interrupted(number), as_json=as_json)
    return result


_encoding_option = click.option(
    "--encoding",
    "encoding_options",
    multiple=True,
    metavar="ENC|FEED=ENC",
    help="Text encoding of the feed files (default utf-8), for every feed (--encoding "
    "cp1252) or one (--encoding eligibility=cp1252); repeatable.",
)


def _encodings(encoding_options: tuple[str, ...]) -> dict[str, str] | None:
    if not encoding_options:
        return None
    from ecm.ingest.discover import parse_encoding_options

    return parse_encoding_options(list(encoding_options))


_rules_option = click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A rules file (default: the packaged reference/rules.toml).",
)


def _dask_option(help_text: str):
    """`--dask [ADDRESS]`: alone "local", else the scheduler address."""
    return click.option(
        "--dask",
        "dask",
        is_flag=False,
        flag_value="local",
        default=None,
        metavar="[ADDRESS]",
        help=help_text,
    )


def _log_options(func):
    func = click.option(
        "--quiet", is_flag=True, help="No progress: show warnings and errors only."
    )(func)
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Progress, log lines and errors as JSON objects on stderr, one a line (event, "
        "stage, rows, seconds; never member data); the summary as JSON on stdout.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ecm")
def main() -> None:
    """Find the Medi-Cal members who qualify for Enhanced Care Management (ECM).

    A monthly run reads a feed directory (eligibility, medical claims and the partner
    feeds of the input contract), counts avoidable ED visits and unplanned stays over
    the lookback, applies the Populations of Focus rules in the rules file, and writes
    member-to-population assignments with the evidence behind each one.

    \b
    Start with:  ecm demo            (synthetic data, end to end)
    Then:        ecm run --input FEEDS --out out/2026-10
    """


def _run_flow(*args, **options) -> dict:
    """Run the monthly flow (flows.launch.run_monthly: the checks before Prefect starts,
    the run's Prefect server, Dask when asked)."""
    from flows.launch import run_monthly

    return run_monthly(*args, **options)


@main.command()
@click.option(
    "--input",
    "input_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The feed directory (the input contract: docs/FEEDS.md).",
)
@click.option(
    "--as-of",
    "as_of",
    type=DATE,
    default=None,
    help="As-of date YYYY-MM-DD. Default: the last day of the previous month "
    "(America/Los_Angeles).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder: new, empty, or an earlier ecm output (anything else is refused); "
    "replaced only when the run succeeds.",
)
@_rules_option
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    default=None,
    help="DuckDB warehouse file. Default: warehouse.duckdb beside the output folder. "
    "Changed only when the run succeeds.",
)
@_encoding_option
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=None,
    help="Run the members in N household shards, one after another (default: as many as "
    "the rules file's [run] memory budget needs). The files are the same for every N.",
)
@_dask_option(
    "Run the shards on Dask: alone, on a new local cluster (one worker process per "
    "core, the [run] memory budget split over them, at least one shard per worker); "
    "with a scheduler address (tcp://host:8786), on that cluster (README, Running on "
    "Dask). The files are the same as without --dask."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="When another ecm run is using the warehouse or the output folder, wait up to "
    "SECONDS for it to finish (0: refuse at once); then exit 2 naming it.",
)
@_log_options
def run(
    input_dir: Path,
    as_of: dt.datetime | None,
    out_dir: Path,
    rules_file: Path | None,
    warehouse: Path | None,
    encoding_options: tuple[str, ...],
    shards: int | None,
    dask: str | None,
    wait: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the monthly flow: ingest → validate → build events → assign → write.

    \b
    Exit codes:
      0  success
      2  the input, the rules file or an option cannot be used (a one-paragraph
         error naming the file, column or line and what was expected), or another
         ecm run is using the warehouse or the output folder (after --wait)
      3  a sanity guard of the rules file refused the run (nobody enrolled on the
         as-of date, or too many rows of a required feed quarantined); nothing is
         replaced and the refused run's summary is printed
      4  the machine stopped the run: a disk is full, a folder cannot be written,
         memory ran out (the sentence names the path or resource and what to do)
      130, 143  interrupted by Ctrl-C (SIGINT) or SIGTERM: within seconds, even
         inside a long query, "interrupted; nothing was replaced", and every
         process the run started (Prefect's server, Dask workers) ends with it
      1  an internal failure (a bug)
    A failed, refused or interrupted run changes nothing: neither --out nor the
    warehouse. One run at a time per warehouse and per output folder; a run that was
    killed needs no clean-up: the next run removes what it left. A --out or
    --warehouse that is a symbolic link is followed: its target is checked and
    replaced, the link stays as it is.

    The files written and every field are described in docs/OUTPUTS.md.
    """

    def go() -> dict:
        from ecm.config.rules import load_rules

        # Without --as-of: the end of the previous month in the rules file's time zone.
        day = as_of.date() if as_of else default_as_of(load_rules(rules_file).timezone)
        encodings = _encodings(encoding_options)
        return _run_flow(
            input_dir, day, out_dir, warehouse, rules_file, encodings, shards, dask=dask, wait=wait
        )

    with progress.shown(quiet=quiet, as_json=as_json), _watched(as_json):
        summary = _guarded(go, as_json=as_json)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    elif not quiet:
        from ecm.deliver.console import print_summary

        print_summary(summary, out_dir)


@main.command()
@click.option("--members", default=20_000, show_default=True, help="Synthetic members.")
@click.option("--months", default=24, show_default=True, help="Months of claims history.")
@click.option(
    "--runs",
    type=click.IntRange(min=1, max=12),
    default=3,
    show_default=True,
    help="Monthly runs in one warehouse, the last on the default as-of date, each a month "
    "after the one before; between two runs the ECM providers answer the earlier run's "
    "member information files (RTF and OTF drops join the feeds).",
)
@click.option("--seed", default=42, show_default=True, help="Random seed.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where the feeds, outputs and warehouse go.",
)
@_log_options
def demo(
    members: int, months: int, runs: int, seed: int, workdir: Path, quiet: bool, as_json: bool
) -> None:
    """The main job on the built-in synthetic default: a plan's months, summarised.

    Generates DIR/feeds/ (the synthetic feed directory), then runs the monthly job --runs
    times (default 3: the as-of dates are the ends of the two months before the default
    as-of date, then that date) into DIR/out/YYYY-MM/, all in one new warehouse
    DIR/out/warehouse.duckdb (an earlier demo's is replaced); between two runs the ECM
    providers answer the earlier run's member information files, their RTF and OTF drops
    joining DIR/feeds/. Prints the months, then the last month's summary. DIR is the
    --workdir. Exit codes as ecm run's (0, 2, 3, 4, 130 / 143, 1).
    """
    from ecm.config.rules import load_rules
    from flows.demo import run_demo

    if months < runs:
        raise click.BadParameter(
            f"{months} months of history cannot hold {runs} monthly runs: give --months at "
            f"least --runs.",
            param_hint="--months",
        )
    end = default_as_of(load_rules().timezone)
    with progress.shown(quiet=quiet, as_json=as_json), _watched(as_json):
        done = _guarded(
            lambda: run_demo(
                workdir, members=members, months=months, seed=seed, runs=runs, end=end
            ),
            as_json=as_json,
        )
    last = done[-1]
    if as_json:
        click.echo(json.dumps(last.summary, default=str))
        return
    from ecm.deliver.console import print_demo_months, print_summary

    print_demo_months(done)
    print_summary(last.summary, last.out_dir)


@main.command()
@click.option(
    "--members",
    type=click.IntRange(min=1),
    default=None,
    help="Number of members (needed unless --answer).",
)
@click.option(
    "--months",
    type=click.IntRange(min=1, max=120),
    default=None,
    help="Months of history, the last ending at --end (needed unless --answer).",
)
@click.option(
    "--end",
    type=DATE,
    default=None,
    help="Last day of the history. Default: the end of the previous month.",
)
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default=None,
    help="File format of the feeds: csv (the default) or parquet.",
)
@click.option(
    "--answer",
    "answer_run",
    type=click.Path(path_type=Path),
    default=None,
    metavar="RUN",
    help="Instead of feeds: what the ECM providers send back in the month after the ecm "
    "run whose output folder is RUN, answering its member information files: the next "
    "month's provider_return (RTF) and outreach (OTF) drops, written into --out (the feed "
    "folder the next run reads).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Feed directory to write.",
)
def generate(
    members: int | None,
    months: int | None,
    end: dt.datetime | None,
    seed: int,
    fmt: str | None,
    answer_run: Path | None,
    out_dir: Path,
) -> None:
    """Write seeded synthetic feeds in the input contract (Medi-Cal-like volumes).

    --out must be new, empty, or an earlier ecm generate output (its .ecm-generated.json
    lists the files it wrote; those, and only those, are replaced).

    With --answer RUN (and no --members, --months, --end or --format): the ECM providers'
    answers to the run's member information files instead, one file per provider in
    --out/provider_return/ and --out/outreach/ (docs/OUTPUTS.md, ecm generate).
    """
    if answer_run is not None:
        given = [f"--{n}" for n, v in (("members", members), ("months", months)) if v]
        given += [o for o, v in (("--end", end), ("--format", fmt)) if v]
        if given:
            raise click.UsageError(
                f"--answer writes the providers' answers to a run, not feeds: "
                f"{', '.join(given)} do not apply to it."
            )
        _answer(answer_run, out_dir, seed)
        return
    missing = [f"--{n}" for n, v in (("members", members), ("months", months)) if v is None]
    if missing:
        raise click.UsageError(f"Missing option {' and '.join(missing)} (or --answer RUN).")
    from ecm.generate import generate_feeds
    from ecm.generate.calendar import window_start

    day = end.date() if end else default_as_of()
    stats = _guarded(
        lambda: generate_feeds(
            out_dir, members=members, months=months, end=day, seed=seed, fmt=fmt or "csv"
        ),
        as_json=False,
    )
    for feed, rows in stats.rows.items():
        click.echo(f"{feed:<30} {rows:>12,} rows")
    first = window_start(day, months)
    click.echo(
        f"wrote {len(stats.files)} files to {out_dir}: service dates {first} .. {day}; "
        f"run them with --as-of {day}"
    )


def _answer(run_dir: Path, out_dir: Path, seed: int) -> None:
    """`ecm generate --answer RUN`: the providers' drops answering the run's files."""
    from ecm.generate.calendar import add_months
    from ecm.generate.providers import simulate_providers

    answers = _guarded(lambda: simulate_providers(run_dir, out_dir, seed=seed), as_json=False)
    for feed, rows in answers.rows.items():
        click.echo(f"{feed:<30} {rows:>12,} rows")
    said = ", ".join(f"{n:,} {outcome}" for outcome, n in answers.outcomes.items())
    click.echo(f"members answered: {said or 'none'}")
    next_as_of = add_months(answers.period, 2) - dt.timedelta(days=1)
    click.echo(
        f"wrote {len(answers.files)} files to {out_dir} (reporting period "
        f"{answers.period:%Y-%m}); the next run reads them: --as-of {next_as_of}"
    )


@main.command()
@click.option(
    "--input",
    "input_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The feed directory to check.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a self-contained HTML page (FILE.html) of the results: counts, "
    "quarantine and warning rules, every expectation. No member data, no network.",
)
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    default=None,
    help="A new DuckDB file to keep the staged feeds in, to inspect them (default: a "
    "temporary one, removed after), with its folder FILE.files/ holding the claims files "
    "as delivered (the view delivered__medical_claim). Never an existing file: validate "
    "does not change a run's warehouse.",
)
@_encoding_option
@_log_options
def validate(
    input_dir: Path,
    report_file: Path | None,
    warehouse: Path | None,
    encoding_options: tuple[str, ...],
    quiet: bool,
    as_json: bool,
) -> None:
    """Check a feed directory against the data contracts without running the rules.

    Reads and stages every feed with the row checks generated from data_contracts/*.toml
    (rows breaking an error check are quarantined; warn checks are counted, the rows
    kept), then runs each present feed's Great Expectations suite (row count, null
    shares, value sets, duplicates at the grain key, distributions) and measures the fill
    rates of the columns the rules lean on (the rules file's [fill_rates]). Prints per
    feed the rows read, staged and quarantined, the rules broken, the failed expectations
    and the columns filled below their threshold.

    Exits 0 when everything staged, every expectation passed and every fill rate is at
    its threshold; 1 when rows were quarantined, an expectation failed or a column is
    too thin; 2 when a file cannot be used; 4 when the machine stopped it (a full disk,
    memory); 130 / 143 when interrupted (Ctrl-C, SIGTERM).
    """
    import tempfile

    from data_contracts.fill_rates import FillRateRules
    from data_contracts.gx_suites import run_data_quality
    from ecm.config.reference import ReferenceData
    from ecm.config.rules import load_rules
    from ecm.ingest import ingest
    from ecm.run import interrupts
    from ecm.run.file_modes import modes_of, narrow_umask, restrict
    from ecm.warehouse.sql import use_memory_budget

    # What validate writes (the staged feeds, the report) is health information too.
    modes = _guarded(lambda: modes_of(load_rules()), as_json=as_json)
    with (
        narrow_umask(modes),
        progress.shown(quiet=quiet, as_json=as_json) as shown,
        _watched(as_json, kept=None),
        tempfile.TemporaryDirectory(prefix="ecm-validate-") as work,
        _staging_lock(warehouse, as_json),
    ):
        if warehouse is not None and warehouse.exists():
            _fail(
                OutputError(
                    f"The warehouse {warehouse} exists; ecm validate stages only into a new "
                    f"file, so that it never changes a run's warehouse. Pass a new file name."
                ),
                as_json=as_json,
            )
        db = str(warehouse) if warehouse else str(Path(work) / "validate.duckdb")
        try:
            with interrupts.connect(db) as con:
                encodings = _encodings(encoding_options)
                settings = load_rules()
                use_memory_budget(settings.setting("run.memory_budget_gib"))
                with shown.stage("ingest") as step:
                    result = ingest(
                        con,
                        input_dir,
                        settings,
                        Path(work),
                        shown,
                        encodings=encodings,
                        quarantine_guard="validation",
                        # A temporary warehouse, removed after: nothing to keep beside it.
                        keep_whole=warehouse is not None,
                    )
                    step.count(sum(c.read for c in result.feeds.values()), "rows read")
                # the first quarantined row of each rule: the lowest line of the first file
                rules = con.sql(
                    "select feed, rule, count(*) as rows, "
                    "arg_min(source_file || ':' || line, (source_file, line)) as first "
                    "from quarantine group by all order by feed, rule"
                ).fetchall()
                with shown.stage("validate"):
                    fill_rules = FillRateRules(settings.setting, ReferenceData().value_set)
                    quality = run_data_quality(con, result, fill_rules)
        except SystemExit:
            raise
        except BaseException as exc:  # every failure is reported, none as a traceback
            _fail(interrupts.interruption(exc) or exc, as_json=as_json)
    failed = quality.failed
    report = {
        "input": str(input_dir),
        "feeds": {name: c.as_dict() for name, c in result.feeds.items()},
        "missing_feeds": result.missing_feeds,
        "ignored_files": result.ignored_files,
        "quarantined": [
            {"feed": f, "rule": r, "rows": n, "first": first} for f, r, n, first in rules
        ],
        "warnings": result.warnings,
        "data_quality": quality.as_summary(),
    }
    if report_file:
        from data_contracts.validation_page import render_validation_page

        with narrow_umask(modes):
            report_file.parent.mkdir(parents=True, exist_ok=True)
            report_file.write_text(render_validation_page(report, quality), encoding="utf-8")
        restrict(report_file, modes)  # a report written over keeps its old mode
    if as_json:
        click.echo(json.dumps(report, default=str))
    else:
        _print_validation(result, rules, quality, report_file)
    sys.exit(1 if rules or failed or quality.thin_columns else 0)


def _print_validation(result, rules: list[tuple], quality, report_file: Path | None) -> None:
    """`ecm validate`'s plain report: per feed its rows, the rules rows were quarantined
    for, the warnings, the expectations and the fill rates (counts only)."""
    failed = quality.failed
    for name, c in result.feeds.items():
        click.echo(
            f"{name:<30} read {c.read:>10,}  staged {c.staged:>10,}  "
            f"quarantined {c.quarantined:>8,}"
        )
    for name in result.missing_feeds:
        click.echo(f"{name:<30} absent")
    for f, r, n, first in rules:
        click.echo(f"  quarantined {n:,} {f} rows for {r} (first at {first})")
    for w in result.warnings:
        click.echo(f"  warning: {w['rows']:,} {w['feed']} rows: {w['detail']} ({w['rule']})")
    evaluated = sum(len(es) for es in quality.expectations.values())
    click.echo(f"expectations: {evaluated - len(failed)} of {evaluated} passed")
    expectation_warnings = quality.warnings[len(result.warnings) :]
    for w in [w for w in expectation_warnings if w["rule"] != "fill_rate"]:
        click.echo(f"  failed: {w['feed']}: {w['detail']}")
    rates = quality.fill_rates
    measured = [r for r in rates if r.rows_in_scope]
    click.echo(
        f"fill rates: {len(measured) - len(quality.thin_columns)} of {len(measured)} at or "
        f"above their threshold, {len(rates) - len(measured)} with no rows to measure"
    )
    for rate in rates:
        click.echo(f"  {rate.status.replace('_', ' ')}: {rate.feed}: {rate.sentence()}")
    if report_file:
        click.echo(f"report: {report_file}")


@contextlib.contextmanager
def _staging_lock(warehouse: Path | None, as_json: bool):
    """`ecm validate --warehouse FILE` holds FILE's run lock while it stages into it, so
    that no run takes the half-staged file for its warehouse (ecm.run.locks); none waits."""
    if warehouse is None:
        yield
        return
    from ecm.run.locks import RunLock

    lock = RunLock(warehouse, "warehouse")
    try:
        lock.acquire()
    except EcmError as exc:
        _fail(exc, as_json=as_json)
    try:
        yield
    finally:
        lock.release()


class _DashedArgumentCommand(click.Command):
    """A command whose one argument may start with `-` (member ids such as -1000018 in
    real extracts): any word that is not one of the command's options, nor an option's
    value, is the argument, as typed; `--` still ends the options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            return super().parse_args(ctx, args)
        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option)]
        names = {name for p in options for name in (*p.opts, *p.secondary_opts)}
        taking_value = {name for p in options if not p.is_flag for name in p.opts}
        kept: list[str] = []
        dashed: list[str] = []
        words = iter(args)
        for word in words:
            if word in taking_value:
                kept += [word, *([value] if (value := next(words, None)) is not None else [])]
            elif word.split("=", 1)[0] in names or not word.startswith("-") or word == "-":
                kept.append(word)
            else:
                dashed.append(word)
        return super().parse_args(ctx, [*kept, "--", *dashed] if dashed else kept)


@main.command(cls=_DashedArgumentCommand)
@click.argument("member_id")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="A run's output folder.",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Show every fact, not the latest five of each criterion.",
)
def explain(member_id: str, run_dir: Path, show_all: bool) -> None:
    """Why a member holds each population, event by event, and why not the others.

    For each population held: the qualifying date and summary, then the claims and feed
    rows behind every criterion (the latest five of each, or every one with --all). For
    each population not held: how close the member came (`4 of 5 avoidable ED visits`).
    Then the member's referrals to ECM providers on the as-of date (state, since, days
    open, overdue) and the member information file that lists them, or why none does.
    A member not enrolled on the run's as-of date exits 2.

    MEMBER_ID is trimmed as the ingest trims ids; an id starting with `-` works as typed
    (ecm explain -1000018 --run out/2026-10).
    """
    from ecm.deliver.explain import explain_member

    try:
        click.echo(explain_member(member_id, run_dir, None if show_all else 5))
    except EcmError as exc:
        _fail(exc)


@main.command()
@click.option(
    "--quarter",
    "quarter",
    required=True,
    metavar="YYYYQn",
    help="The quarter reported: 2026Q3 is 2026-07-01 through 2026-09-30.",
)
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    default=None,
    help="The DuckDB warehouse the quarter's monthly runs wrote (default: warehouse.duckdb "
    "beside the output folder). Only read.",
)
@_rules_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder: new, empty, or an earlier ecm output (anything else is refused); "
    "replaced only when the file is complete.",
)
@click.option("--json", "as_json", is_flag=True, help="The manifest as JSON on stdout.")
def quarterly(
    quarter: str, warehouse: Path | None, rules_file: Path | None, out_dir: Path, as_json: bool
) -> None:
    """Write the DHCS quarterly ECM member file of one quarter, from the warehouse alone.

    Reads the runs whose as-of dates fall in the quarter (their assignments give the 16
    Population of Focus flags, [quarterly.flags]), the providers' RTF (ECM enrollment
    spans, chained when the next starts at most [quarterly] merge_gap_days after the
    previous ends; the discontinuation reason as DHCS's number,
    [quarterly.discontinuation_codes]) and OTF (encounters; the RTF's counts for a member
    with no OTF row in the quarter), and eligibility (names, birth date, county). Never
    reads an output folder. Writes into --out:

    \b
      ECM_Quarterly_<plan code>_<YYYY>Q<n>.csv   one row per member x merged ECM
      ECM_Quarterly_<plan code>_<YYYY>Q<n>.xlsx  enrollment span touching the quarter,
                                                 sorted by member, then span start;
                                                 every date MM/DD/YYYY
      manifest.json                              rows, sha256, the runs used, warnings
    The plan code is the rules file's [plan] plan_code. Fewer than three runs in the
    quarter, or no RTF row of its reporting periods, is a warning (printed and in the
    manifest).

    \b
    Exit codes:
      0  written (warnings, if any, printed)
      2  --quarter is not YYYYQn; the warehouse records no run in the quarter; the
         rules file, the warehouse or --out cannot be used (one paragraph saying why)
      4  the machine stopped it: a disk is full, a folder cannot be written
      130, 143  interrupted (Ctrl-C, SIGTERM): nothing was replaced
      1  an internal failure (a bug)
    Every column is described in docs/OUTPUTS.md.
    """
    from ecm.quarterly.build import write_quarterly

    with _watched(as_json, kept="--out"):
        manifest = _guarded(
            lambda: write_quarterly(quarter, out_dir, warehouse, rules_file), as_json=as_json
        )
    if as_json:
        click.echo(json.dumps(manifest, default=str))
        return
    for warning in manifest["warnings"]:
        click.echo(f"warning: {warning['detail']} ({warning['rule']})", err=True)
    runs = ", ".join(r["as_of_date"] for r in manifest["runs"])
    click.echo(
        f"wrote {manifest['rows']:,} rows for {manifest['quarter']} to {out_dir} (runs of {runs})"
    )
    for entry in manifest["files"]:
        click.echo(f"  {entry['path']}")


@main.command()
@click.option(
    "--rules",
    "rules_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="A rules file; give it twice, A then B (what B would change against A), or once, "
    "B (against the rules file of the warehouse's latest run, kept in its history).",
)
@click.option(
    "--as-of",
    "as_of",
    type=DATE,
    default=None,
    help="As-of date YYYY-MM-DD. Default: the as-of date of the warehouse's latest run.",
)
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    default=None,
    help="The DuckDB warehouse the monthly runs wrote (default: warehouse.duckdb beside the "
    "output folder). Only read, never locked nor changed.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder: new, empty, or an earlier ecm diff output (anything else, a run's "
    "output among it, is refused); replaced only when the diff is complete.",
)
@_log_options
def diff(
    rules_files: tuple[Path, ...],
    as_of: dt.datetime | None,
    warehouse: Path | None,
    out_dir: Path,
    quiet: bool,
    as_json: bool,
) -> None:
    """Who would gain or lose which population under another rules file (rules B rather
    than rules A): a plan trying the 6-month adult high-utiliser window, a new value-set
    version.

    Evaluates both rules files, with the monthly run's own rules and shards, over what the
    warehouse already staged (no feed is read again), on one as-of date, and compares
    their assignments (member × population). A rules file a recorded run already answered
    over the same staged inputs and date (the latest run's, with one --rules) is read from
    the warehouse's history, not evaluated again; of the other, only the populations whose
    rule it changes are evaluated when the run's kept events are its events. The warehouse
    is opened read only: its file, its history and every output folder but --out are left
    as they were. Writes into --out:

    \b
      diff.parquet   one row per member x population held under one rules file only:
                     member_id, pof_code, change (gained / lost), provider_npi (the
                     member's ECM provider on the as-of date); sorted by member_id,
                     pof_code
      diff.html      counts per population, age group and ECM provider; both rules
                     files (version, sha256) and the settings that differ; no member data
      manifest.json  both rules files, the as-of date, the counts, every file's sha256
    Prints the gains and losses per population (--quiet: nothing; --json: the summary as
    JSON on stdout). Its work files go in a temporary folder beside --out.

    \b
    Exit codes:
      0  written
      2  a rules file cannot be used (checked whole, as ecm run checks it) or sets
         another claims.void_bill_type_frequency than the warehouse's claims were
         resolved with; no warehouse, not an ecm warehouse, or one with no run recorded;
         one --rules and a latest run recorded before ecm kept its rules file (pass two
         --rules); more than two --rules; --out cannot be used (one paragraph saying
         why): new, empty or an earlier ecm diff output, never another command's
      4  the machine stopped it: a disk is full, a folder cannot be written, memory
         ran out
      130, 143  interrupted (Ctrl-C, SIGTERM): nothing was replaced
      1  an internal failure (a bug)
    Every column and count is described in docs/OUTPUTS.md.
    """
    from ecm.diff.build import summary_lines, write_diff

    if len(rules_files) > 2:
        raise click.UsageError(
            f"--rules is given {len(rules_files)} times: ecm diff compares two rules files "
            f"(--rules A.toml --rules B.toml), or one with the latest run's (--rules B.toml)."
        )
    day = as_of.date() if as_of else None
    with progress.shown(quiet=quiet, as_json=as_json), _watched(as_json):
        summary = _guarded(
            lambda: write_diff(list(rules_files), out_dir, warehouse, day), as_json=as_json
        )
    if as_json:
        click.echo(json.dumps(summary, default=str))
    elif not quiet:
        for line in summary_lines(summary, out_dir):
            click.echo(line)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    default=4200,
    show_default=True,
    help="Port of the Prefect server started on 127.0.0.1 (unused with PREFECT_API_URL).",
)
@click.option(
    "--input",
    "input_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The feed directory each run reads (default: prefect.yaml's input_dir, feeds).",
)
@click.option(
    "--out",
    "out_root",
    type=click.Path(path_type=Path),
    default=None,
    help="The folder of the monthly outputs: a run writes OUT/YYYY-MM/ of its as-of month "
    "(default: prefect.yaml's out_root, out).",
)
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    default=None,
    help="DuckDB warehouse file (default: OUT/warehouse.duckdb).",
)
@_rules_option
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=None,
    help="Household shards per run, as ecm run --shards (default: from the memory budget).",
)
@_dask_option(
    "Run each run's shards on Dask, as ecm run --dask: alone, a new local cluster per "
    "run; with a scheduler address (tcp://host:8786), that cluster."
)
def serve(
    port: int,
    input_dir: Path | None,
    out_root: Path | None,
    warehouse: Path | None,
    rules_file: Path | None,
    shards: int | None,
    dask: str | None,
) -> None:
    """Serve the scheduled monthly run (prefect.yaml) until Ctrl-C.

    Starts a Prefect server on 127.0.0.1:PORT (state in PREFECT_HOME, analytics off) or,
    when PREFECT_API_URL is set, uses the server it names; then serves the ecm-monthly
    deployment of prefect.yaml so that its schedule fires: 06:00 America/Los_Angeles on
    the 5th of every month. Each run takes as-of the last day of the previous month and
    writes OUT/YYYY-MM/, beside the earlier months, sharing OUT/warehouse.duckdb. The
    options override prefect.yaml's parameters for this server; relative paths are
    taken from the current folder. Ctrl-C stops serving, then the server it started.

    \b
    Start a run now (another terminal):
      DO_NOT_TRACK=1 PREFECT_API_URL=http://127.0.0.1:4200/api prefect deployment run \\
        'ecm-scheduled-monthly/ecm-monthly'
    """
    from ecm.run.deployment import serve as serve_deployment

    configure_logging()
    overrides = {
        "input_dir": input_dir,
        "out_root": out_root,
        "warehouse": warehouse,
        "rules_file": rules_file,
        "shards": shards,
        "dask": dask,
    }
    _guarded(
        lambda: serve_deployment(overrides, port=port, echo=lambda m: click.echo(m, err=True)),
        as_json=False,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
