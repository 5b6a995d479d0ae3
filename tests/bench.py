"""`make bench`: the scale targets of issue #7, measured in one run on cached feed sets.

    python -m tests.bench [--sizes 300000,1500000] [--csv-sizes smallest|none|N,...]
                        [--months 24] [--workdir bench-data] [--second-month largest|none|all]
                        [--validation smallest|none|all] [--shards N] [--markdown FILE]

For each feed set (Parquet at every size, CSV at `--csv-sizes`; generated once into
`bench-data/feeds-<members>-<months>-<fmt>/` with seed 7 and end date 2026-10-31 and reused
while its `.bench-complete.json` marker matches; a set without the marker is regenerated):

1. the **scan floor**: DuckDB reading, once, every column the rules read (`SCAN_CLAIM_COLUMNS`
   of the medical claims: the `read_columns` of data_contracts/medical_claim.toml,
   diagnosis_code_2..25, file_date, and procedure_code_* when the unplanned-stay method is
   cms_planned; and the `read_columns` of data_contracts/eligibility.toml), `max()` of each
   so every column is read;
2. the **baseline**: `BASELINE_SQL`, the HIGH_UTIL rules alone as an analyst would write them
   in one DuckDB query on the same files; its member counts beside ecm's;
2b. the **contract floor** (`contract_floor`): storing every delivered column that holds a
   value in a new DuckDB file (plain `create table as`, no checks) and Python + Prefect
   running an empty flow: what any run under the contract pays before a check or a rule;
3. `ecm run` **as a user runs it**: `.venv/bin/ecm run --input … --as-of 2026-10-31 --out …
   --quiet` in a subprocess (Prefect's temporary server included, the default shard count),
   wall clock, and the stage timings of its summary.json;
4. the **peak RSS of the whole process tree** of that subprocess: /proc sampled every 0.2 s,
   RSS summed over the process, its descendants and its session (`TreeRssSampler`);
4b. `ecm diff` **as a user runs it**, after the run, on its warehouse: `.venv/bin/ecm diff
   --rules <6-month window> --warehouse … --out … --quiet` (rules B: the packaged file with
   the DHCS 6-month adult high-utiliser window, `populations.HIGH_UTIL_ADULT.lookback_months
   = 6`, compared with the run's own rules file, kept in the warehouse's history), wall
   clock and the peak RSS of its process tree;
5. on `--second-month` sets: a **second month**, `ecm run` again on the same warehouse with
   one more monthly claims drop (the last month's lines a month later, new claim ids) and
   the as-of date a month later: "ingest seconds of run 2 / run 1" from summary.json;
6. on `--validation` sets: the validation cost (`validation_cost`, in-process ingest).

Prints one Markdown table per set and the targets; `--markdown FILE` also writes them as the
"Scale (issue #7)" section at the top of FILE (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from data_contracts import load_contract, load_contracts
from data_contracts.fill_rates import FillRateRules
from data_contracts.gx_suites import run_data_quality, table_expectations
from data_contracts.sql import ident, lit, row_checks
from ecm.config.reference import ReferenceData
from ecm.config.rules import load_rules
from ecm.generate import generate_feeds
from ecm.ingest import ingest
from ecm.run.prefect_env import NO_ANALYTICS
from ecm.shards.evaluate import inputs_needed

AS_OF = dt.date(2026, 10, 31)
SEED = 7
MARKER = ".bench-complete.json"
MARKER_VERSION = 1
REPO = Path(__file__).resolve().parent.parent
NYU_CSV = REPO / "reference" / "nyu" / "ed_classification__johnston_icd10.csv"
ECM = Path(sys.executable).parent / "ecm"
SECTION = "## Scale (issue #7)"
HIGH_UTIL = ("HIGH_UTIL_ADULT", "HIGH_UTIL_CHILD")


# --------------------------------------------------------------------------- feed sets


@dataclass(frozen=True)
class FeedSet:
    members: int
    months: int
    fmt: str
    root: Path

    @property
    def path(self) -> Path:
        return self.root / f"feeds-{self.members}-{self.months}-{self.fmt}"

    @property
    def label(self) -> str:
        return f"{self.members:,} members × {self.months} months, {self.fmt}"


def _marker_ok(fs: FeedSet) -> dict | None:
    marker = fs.path / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if any(info.get(k) != v for k, v in _marker_identity(fs).items()):
        return None
    if not all((fs.path / f).is_file() for f in info.get("files", [])):
        return None
    return info


def _marker_identity(fs: FeedSet) -> dict:
    """What a feed set's marker must say for the cached set to be reused."""
    return {
        "version": MARKER_VERSION,
        "members": fs.members,
        "months": fs.months,
        "fmt": fs.fmt,
        "seed": SEED,
        "end": AS_OF.isoformat(),
    }


def ensure_feeds(fs: FeedSet) -> dict:
    """The cached feed set, generated (into a fresh folder) unless its marker says it is
    complete. Returns the marker: rows per feed, files, generation seconds."""
    info = _marker_ok(fs)
    if info is not None:
        info["cached"] = True
        return info
    if fs.path.exists():
        shutil.rmtree(fs.path)
    fs.path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stats = generate_feeds(
        fs.path, members=fs.members, months=fs.months, end=AS_OF, seed=SEED, fmt=fs.fmt
    )
    seconds = time.perf_counter() - started
    info = {
        **_marker_identity(fs),
        "rows": dict(stats.rows),
        "files": sorted(str(p.relative_to(fs.path)) for p in fs.path.rglob("*") if p.is_file()),
        "generate_seconds": round(seconds, 2),
    }
    # Written last: a set interrupted before this line has no marker and is regenerated.
    (fs.path / MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    info["cached"] = False
    return info


def _reader(feeds: Path, feed: str) -> str:
    """A DuckDB table function over one feed's files (a folder of drops or one file)."""
    folder = feeds / feed
    if folder.is_dir():
        files = sorted(str(p) for p in folder.iterdir() if not p.name.startswith("."))
    else:
        files = sorted(str(p) for p in feeds.glob(f"{feed}*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no {feed} files in {feeds}")
    listed = "[" + ", ".join(lit(f) for f in files) + "]"
    if all(f.endswith(".parquet") for f in files):
        return f"read_parquet({listed}, union_by_name = true)"
    # Stacking by name costs DuckDB 2-3x on CSV: only when the drops' headers differ.
    union = ", union_by_name = true" if len({_header(f) for f in files}) > 1 else ""
    return f"read_csv({listed}, header = true, all_varchar = true{union})"


def _header(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return fh.readline().rstrip(b"\r\n")


# --------------------------------------------------------------------------- scan floor


def scan_claim_columns(feeds: Path) -> list[str]:
    """The medical-claim columns the rules read: the event columns, every diagnosis
    position, file_date (claim versions), and the procedure codes under cms_planned."""
    cols = scan_claim_columns_static()
    if "procedures" in inputs_needed(load_rules()):
        with duckdb.connect() as con:
            present = [
                r[0]
                for r in con.sql(
                    f"describe select * from {_reader(feeds, 'medical_claim')}"
                ).fetchall()
            ]
        cols += [c for c in present if c.startswith("procedure_code_")]
    return list(dict.fromkeys(cols))


def scan_floor(feeds: Path) -> dict:
    """Seconds for DuckDB to read every rule column of the claims and the eligibility once
    (max() of each column, so each is read; no pushdown shortcut)."""
    out: dict = {}
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        started = time.perf_counter()
        for feed, cols in (
            ("medical_claim", scan_claim_columns(feeds)),
            ("eligibility", list(load_contract("eligibility").read_columns)),
        ):
            every = ", ".join(f"max({ident(c)})" for c in cols)
            out[f"{feed} rows"] = con.sql(
                f"select count(*), {every} from {_reader(feeds, feed)}"
            ).fetchall()[0][0]
            out[f"{feed} columns"] = len(cols)
        out["seconds"] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------- contract floor

# An empty Prefect flow: what Python and Prefect cost a run before it reads anything.
EMPTY_FLOW = (
    "from prefect import flow\n"
    "@flow(name='bench-empty', persist_result=False)\n"
    "def empty():\n"
    "    return None\n"
    "empty()\n"
)


def contract_floor(feeds: Path, work: Path) -> dict:
    """What the contract makes any run pay before a rule, measured on the same files:

    - `store`: keeping the delivered record in a DuckDB warehouse, nothing else: per feed,
      one plain `create table as select` of every column some row holds a value in (the
      columns a staged table keeps, outputs.md: the warehouse keeps every column), into a
      new DuckDB file, no checks, casts nor normalisation;
    - `startup`: Python and Prefect running an empty flow in a new process, with the
      environment `ecm run` gets (Prefect's temporary server included)."""
    contracts = load_contracts()
    path = work / "contract-floor.duckdb"
    path.unlink(missing_ok=True)
    out: dict = {"store": 0.0, "columns": {}}
    with duckdb.connect(str(path)) as con:
        con.execute("set enable_progress_bar = false")
        for feed in contracts:
            if not list(feeds.glob(f"{feed}*")):
                continue
            reader = _reader(feeds, feed)
            cols = [r[0] for r in con.sql(f"describe select * from {reader}").fetchall()]
            counts = con.sql(
                f"select {', '.join(f'count({ident(c)})' for c in cols)} from {reader}"
            ).fetchall()[0]
            valued = [c for c, n in zip(cols, counts, strict=True) if n]
            out["columns"][feed] = len(valued)
            started = time.perf_counter()
            con.execute(
                f"create table {ident(feed)} as "
                f"select {', '.join(ident(c) for c in valued)} from {reader}"
            )
            out["store"] += time.perf_counter() - started
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", EMPTY_FLOW], env=_run_env(), check=True, capture_output=True
    )
    out["startup"] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------- baseline

# The HIGH_UTIL rules alone, as a competent analyst would write them in one query.
# $as_of = D, $start = the lookback start (D - 12 months + 1 day).
BASELINE_SQL = """
with lines as (
    select
        member_id, data_source, claim_id, claim_type,
        try_cast(file_date as date) as file_date,
        lpad(cast(revenue_center_code as varchar), 4, '0') as rev,
        upper(cast(hcpcs_code as varchar)) as hcpcs,
        lpad(cast(place_of_service_code as varchar), 2, '0') as pos,
        ltrim(cast(bill_type_code as varchar), '0') as tob,
        -- 9 = information not available: empty (claims.admit_type_missing_codes)
        nullif(nullif(ltrim(cast(admit_type_code as varchar), '0'), ''), '9') as admit_type,
        coalesce(try_cast(claim_line_start_date as date),
                 try_cast(claim_start_date as date)) as service_date,
        coalesce(try_cast(admission_date as date),
                 try_cast(claim_start_date as date)) as admit_date,
        upper(replace(diagnosis_code_1, '.', '')) as dx1
    from {claims}
),
latest as (  -- the latest version of each claim by file_date
    select data_source, claim_id, max(file_date) as file_date
    from lines group by all
),
latest_lines as (
    select * from lines semi join latest using (data_source, claim_id, file_date)
),
current as (  -- a latest version that is a void (type of bill xx8) removes the claim
    select * from latest_lines
    anti join (select data_source, claim_id from latest_lines where tob like '__8')
        using (data_source, claim_id)
),
ed_lines as (
    select member_id, service_date, claim_type, claim_id, dx1 from current
    where service_date between $start and $as_of
      and ((claim_type = 'institutional' and (rev like '045_' or rev = '0981'))
           or hcpcs between '99281' and '99285' or hcpcs between 'G0380' and 'G0384'
           or (claim_type = 'professional' and pos = '23'))
),
ed_visits as (  -- one per member-date; primary dx: the institutional claim's, else lowest id
    select member_id, service_date,
           arg_min(dx1, (claim_type <> 'institutional', dx1 is null, claim_id)) as dx
    from ed_lines group by all
),
nyu as (
    select icd10, noner + epct + edcnpa as avoidable
    from read_csv({nyu}, header = true)
),
avoidable_ed as (
    select member_id, count(*) as n
    from ed_visits v join nyu on nyu.icd10 = v.dx
    where nyu.avoidable > 0.5
    group by all
),
stays as (  -- acute stays (11x, 12x), unplanned admit type, one per member-admission date
    select member_id, count(distinct admit_date) as n
    from current
    where claim_type = 'institutional' and left(tob, 2) in ('11', '12')
      and (admit_type in ('1', '2', '5') or admit_type is null)
      and admit_date between $start and $as_of
    group by all
),
enrolled as (  -- enrolled on D, alive on D, age in completed years on D
    select member_id,
           any_value(try_cast(birth_date as date)) as birth_date
    from {eligibility}
    where try_cast(enrollment_start_date as date) <= $as_of
      and (enrollment_end_date is null or cast(enrollment_end_date as varchar) = ''
           or try_cast(enrollment_end_date as date) >= $as_of)
      and (death_date is null or cast(death_date as varchar) = ''
           or try_cast(death_date as date) > $as_of)
    group by all
),
members as (
    select member_id,
           date_diff('year', birth_date, $as_of)
             - case when strftime($as_of, '%m%d') < strftime(birth_date, '%m%d') then 1 else 0 end
             as age,
           coalesce(e.n, 0) as ed, coalesce(s.n, 0) as stays
    from enrolled
    left join avoidable_ed e using (member_id)
    left join stays s using (member_id)
)
select member_id,
       case when age >= 21 then 'HIGH_UTIL_ADULT' else 'HIGH_UTIL_CHILD' end as pof_code
from members
where (age >= 21 and (ed >= 5 or stays >= 3)) or (age < 21 and (ed >= 3 or stays >= 2))
"""


def lookback_start(as_of: dt.date, months: int = 12) -> dt.date:
    """D − months calendar months + 1 day (a missing day clamped to the month's end)."""
    import calendar

    year, month = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
    day = min(as_of.day, calendar.monthrange(year, month + 1)[1])
    return dt.date(year, month + 1, day) + dt.timedelta(days=1)


def baseline(feeds: Path, as_of: dt.date = AS_OF) -> dict:
    """Seconds, members and member counts of BASELINE_SQL on the feed files (DuckDB's
    defaults; the query returns the qualifying members, a few thousand rows)."""
    sql = BASELINE_SQL.format(
        claims=_reader(feeds, "medical_claim"),
        eligibility=_reader(feeds, "eligibility"),
        nyu=lit(NYU_CSV),
    )
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        started = time.perf_counter()
        rows = con.execute(sql, {"as_of": as_of, "start": lookback_start(as_of)}).fetchall()
        seconds = time.perf_counter() - started
    members = {code: {m for m, c in rows if c == code} for code in HIGH_UTIL}
    return {"seconds": seconds, "members": members} | {c: len(members[c]) for c in HIGH_UTIL}


def compare_members(out: Path, base: dict) -> dict[str, dict[str, int]]:
    """Members in both, in ecm only, in the baseline only, per HIGH_UTIL population."""
    assigned = pl.read_parquet(out / "assignments.parquet", columns=["member_id", "pof_code"])
    result = {}
    for code in HIGH_UTIL:
        ecm = set(assigned.filter(pl.col("pof_code") == code)["member_id"].to_list())
        theirs = base["members"][code]
        result[code] = {
            "both": len(ecm & theirs),
            "ecm only": len(ecm - theirs),
            "baseline only": len(theirs - ecm),
        }
    return result


# --------------------------------------------------------------------------- process tree RSS


PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid → (ppid, session id, RSS bytes) of every process readable in /proc."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes().decode("ascii", "replace")
        except OSError:
            continue  # gone between listing and reading
        # Fields after the command name (which may hold spaces and parentheses).
        rest = stat[stat.rindex(")") + 2 :].split()
        # rest[0] = state (field 3), [1] ppid (4), [3] session (6), [21] rss in pages (24)
        table[int(entry.name)] = (int(rest[1]), int(rest[3]), int(rest[21]) * PAGE)
    return table


def tree_rss_bytes(root: int, *, session: bool = True) -> int:
    """RSS summed over `root`, all its descendants and (with `session`) every process of
    the session `root` leads (orphans re-parented to init included)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _rss) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree: set[int] = set()
    todo = [root] if root in table else []
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    if session:
        tree |= {pid for pid, (_p, sid, _r) in table.items() if sid == root}
    return sum(table[pid][2] for pid in tree)


class TreeRssSampler:
    """Samples tree_rss_bytes(pid) every `interval` seconds in a thread; `peak` is the max."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- ecm run


@dataclass
class RunResult:
    wall: float
    peak_rss: int
    samples: int
    timings: dict[str, float]
    summary: dict = field(repr=False)
    other_cores: float = 0.0  # other processes' CPU during the run, in cores

    def population(self, code: str) -> int | None:
        return (self.summary.get("populations", {}).get(code) or {}).get("members")


class RunFailedError(Exception):
    def __init__(self, cmd: str, rc: int, wall: float, peak_rss: int) -> None:
        super().__init__(f"`{cmd}` exited {rc} after {wall:.0f} s")
        self.rc, self.wall, self.peak_rss = rc, wall, peak_rss


def _run_env() -> dict[str, str]:
    """The environment of the bench's subprocesses, as the Makefile sets it."""
    defaults = {
        "PREFECT_HOME": str(REPO / ".prefect"),
        **NO_ANALYTICS,
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    }
    return {**defaults, **os.environ}


def run_ecm(
    feeds: Path, out: Path, warehouse: Path, as_of: dt.date = AS_OF, rules: Path | None = None
) -> RunResult:
    """`ecm run` as a user runs it, in a subprocess of its own session, sampled (`rules`:
    another rules file than the packaged one)."""
    cmd = [
        str(ECM),
        "run",
        "--input",
        str(feeds),
        "--as-of",
        as_of.isoformat(),
        "--out",
        str(out),
        "--warehouse",
        str(warehouse),
        "--quiet",
        *(["--rules", str(rules)] if rules is not None else []),
    ]
    started = time.perf_counter()
    busy = busy_cpu_seconds()
    proc = subprocess.Popen(cmd, start_new_session=True, env=_run_env())
    with TreeRssSampler(proc.pid) as sampler:
        # wait4: the CPU time of the run and every descendant it reaped.
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    # Everything else the machine ran meanwhile (other jobs; the bench's sampler, ~0.01).
    others = max(0.0, busy_cpu_seconds() - busy - usage.ru_utime - usage.ru_stime) / wall
    if rc != 0:
        raise RunFailedError(" ".join(cmd), rc, wall, sampler.peak)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    timings = summary["timings_seconds"]
    return RunResult(wall, sampler.peak, sampler.samples, timings, summary, others)


DIFF_SETTING = ("populations.HIGH_UTIL_ADULT.lookback_months", 6)
"""Rules B of the bench's `ecm diff`: the DHCS 6-month adult high-utiliser window."""


@dataclass
class DiffResult:
    wall: float
    peak_rss: int
    manifest: dict = field(repr=False)
    summary: dict = field(repr=False, default_factory=dict)


def run_diff(out: Path, warehouse: Path, rules_dir: Path) -> DiffResult:
    """`ecm diff` as a user runs it after the run, in a subprocess of its own session,
    sampled: rules B (`DIFF_SETTING`) against the rules file of the warehouse's latest run."""
    from tests.rules_file import rules_file_with

    rules = rules_file_with(rules_dir, *DIFF_SETTING, name="rules-6-month-window.toml")
    cmd = [str(ECM), "diff", "--rules", str(rules), "--warehouse", str(warehouse)]
    cmd += ["--out", str(out), "--quiet", "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, start_new_session=True, env=_run_env(), stdout=subprocess.PIPE, text=True
    )
    with TreeRssSampler(proc.pid) as sampler:
        printed, _ = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RunFailedError(" ".join(cmd), proc.returncode, wall, sampler.peak)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    summary = json.loads(printed.strip().splitlines()[-1])
    return DiffResult(wall, sampler.peak, manifest, summary)


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has spent busy (all but idle and iowait) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def second_month_feeds(fs: FeedSet, into: Path) -> tuple[Path, int]:
    """A copy of the feed set (symlinks) with one more monthly claims drop: the lines filed
    in the latest month, a month later (dates and file_date + 1 month, new claim ids)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    claims = _reader(fs.path, "medical_claim")
    for entry in fs.path.iterdir():
        if not entry.name.startswith("."):
            (into / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    with duckdb.connect() as con:
        cols = [r[0] for r in con.sql(f"describe select * from {claims}").fetchall()]
        dates = {c for c in cols if c.endswith("_date")}
        select = ", ".join(
            f"'N' || {ident(c)} as {ident(c)}"
            if c == "claim_id"
            else (
                f"cast(try_cast({ident(c)} as date) + interval 1 month as date) as {ident(c)}"
                if c in dates
                else ident(c)
            )
            for c in cols
        )
        latest = f"(select max(try_cast(file_date as date)) from {claims})"
        body = f"select {select} from {claims} where try_cast(file_date as date) = {latest}"
        if fs.fmt == "parquet":
            drop = into / "medical_claim_second_month.parquet"
            con.execute(f"copy ({body}) to '{drop}' (format parquet)")
        else:
            folder = into / "medical_claim"
            folder.unlink()  # the symlinked folder: a real one holding links and the drop
            folder.mkdir()
            for p in sorted((fs.path / "medical_claim").iterdir()):
                (folder / p.name).symlink_to(p.resolve())
            drop = folder / "medical_claim_second_month.csv"
            con.execute(f"copy ({body}) to '{drop}' (format csv, header true)")
        rows = con.sql(f"select count(*) from '{drop}'").fetchall()[0][0]
    return into, rows


# --------------------------------------------------------------------------- validation


def validation_figures(fs: FeedSet, work: Path) -> dict[str, float]:
    """The in-process ingest and `validation_cost` (the contracts' checks and GX suites)."""
    rules = load_rules()
    db = work / "validation.duckdb"
    db.unlink(missing_ok=True)
    feeds = fs.path
    with duckdb.connect(str(db)) as con:
        ingested = ingest(con, feeds, rules, work / "tmp")
        validation = validation_cost(con, ingested, rules)
    db.unlink(missing_ok=True)
    return validation


def validated_columns(name: str) -> list[str]:
    """The raw columns a feed's row checks and suites read."""
    contract = load_contracts()[name]
    cols = [s.name for s in contract.specs]
    cols += [c for g in contract.position_codes for c in g.columns]
    cols += [o.start for o in contract.date_order] + [o.end for o in contract.date_order]
    cols += [c for r in contract.row_rules for c in r.columns]
    cols += list(contract.grain_key) + ([contract.member_key] if contract.member_key else [])
    cols += [c for e in table_expectations(contract) for c in e.columns]
    return list(dict.fromkeys(cols))


def validation_cost(con: duckdb.DuckDBPyConnection, ingested, rules) -> dict[str, float]:
    """Seconds for: a plain scan of the validated columns of every present feed's raw rows
    (max() of each, so each is read); the generated row checks over the same rows (the
    `checked__<feed>` views, every check evaluated); GX's import; the GX suites (with the
    fill rates, thresholds from `rules`)."""
    feeds = list(ingested.feeds)
    started = time.perf_counter()
    for name in feeds:
        cols = validated_columns(name)
        con.execute(
            f"select count(*), {', '.join(f'max({ident(c)})' for c in cols)} from raw__{name}"
        ).fetchall()
    scan = time.perf_counter() - started
    started = time.perf_counter()
    for name in feeds:
        con.execute(f"select count(_reject), count(_warn) from checked__{name}").fetchall()
    checks = time.perf_counter() - started
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - timed on its own: paid once a run

    gx_import = time.perf_counter() - started
    started = time.perf_counter()
    run_data_quality(con, ingested, FillRateRules(rules.setting, ReferenceData().value_set))
    suites = time.perf_counter() - started
    n_checks = sum(len(row_checks(load_contracts()[n])) for n in feeds)
    return {
        "scan": scan,
        "checks": checks,
        "gx import": gx_import,
        "gx suites": suites,
        "row checks": n_checks,
    }


# --------------------------------------------------------------------------- report


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB ({n / 2**30:.2f} GiB)"


def machine() -> list[str]:
    from importlib.metadata import version

    free = subprocess.run(
        ["free", "-g"], check=False, capture_output=True, text=True
    ).stdout.rstrip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"Machine: {platform.machine()}, `nproc` {os.cpu_count()}; Python "
        f"{platform.python_version()}, polars {pl.__version__}, duckdb {duckdb.__version__}, "
        f"prefect {version('prefect')}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average at the end {load}.",
        "",
        "```",
        "$ free -g",
        free,
        "```",
    ]


def set_table(r: dict) -> list[str]:
    floor = r["scan"]["seconds"]
    run = r["run"]
    if run is None:
        f = r["failed"]
        return [
            f"### {r['label']} ({r['claim_lines']:,} claim lines), as of {AS_OF}",
            "",
            f"- scan floor {floor:.2f} s; baseline SQL {r['baseline']['seconds']:.2f} s "
            f"(HIGH_UTIL_ADULT {r['baseline']['HIGH_UTIL_ADULT']:,}, HIGH_UTIL_CHILD "
            f"{r['baseline']['HIGH_UTIL_CHILD']:,});",
            f"- **`ecm run` failed**: exit code {f['rc']} after {f['wall']:.1f} s, peak RSS of "
            f"the process tree {_gb(f['peak_rss'])}; load average {r['load_before']:.2f} / "
            f"{r['load_after']:.2f}.",
        ]
    rows = [
        f"### {r['label']} ({r['claim_lines']:,} claim lines), as of {AS_OF}, "
        f"{run['shards']} shard(s)",
        "",
        "| | seconds | × scan floor |",
        "|---|---:|---:|",
        f"| generate ({'cached' if r['cached'] else 'this run'}) | {r['generate']:.1f} | |",
        f"| **scan floor** ({r['scan']['medical_claim columns']} claim + "
        f"{r['scan']['eligibility columns']} eligibility columns) | **{floor:.2f}** | 1.0 |",
        f"| **baseline SQL** (HIGH_UTIL only) | **{r['baseline']['seconds']:.2f}** | "
        f"{r['baseline']['seconds'] / floor:.1f} |",
        f"| **`ecm run`, wall clock** (Prefect included) | **{run['wall']:.2f}** | "
        f"**{run['wall'] / floor:.1f}** |",
    ]
    if r.get("contract_floor"):
        c = r["contract_floor"]
        rows[-1:-1] = [
            f"| contract floor: store the delivered columns "
            f"({c['columns'].get('medical_claim', 0)} claim columns with a value; plain "
            f"`create table as`, no checks) | {c['store']:.2f} | {c['store'] / floor:.1f} |",
            f"| contract floor: Python + Prefect, an empty flow | {c['startup']:.2f} | "
            f"{c['startup'] / floor:.1f} |",
        ]
    staged = 0.0
    for step, sec in run["timings"].items():
        nested = step.startswith("shards_")
        if not nested:
            staged += sec
        name = f"&nbsp;&nbsp;&nbsp;&nbsp;{step[len('shards_') :]}" if nested else step
        rows.append(f"| &nbsp;&nbsp;{name} | {sec:.2f} | {sec / floor:.1f} |")
    other = run["wall"] - staged
    rows.append(
        f"| &nbsp;&nbsp;outside the stages (start-up, Prefect, outputs) | {other:.2f} | "
        f"{other / floor:.1f} |"
    )
    rows.append(
        f"| **peak RSS, whole process tree** | **{_gb(run['peak_rss'])}** | "
        f"({run['samples']} samples) |"
    )
    b = r["baseline"]
    rows.append(
        f"| HIGH_UTIL_ADULT / _CHILD members: ecm · baseline | "
        f"{run['HIGH_UTIL_ADULT']:,} / {run['HIGH_UTIL_CHILD']:,} · "
        f"{b['HIGH_UTIL_ADULT']:,} / {b['HIGH_UTIL_CHILD']:,} | |"
    )
    for code, o in r["overlap"].items():
        rows.append(
            f"| {code} members in both · ecm only · baseline only | "
            f"{o['both']:,} · {o['ecm only']:,} · {o['baseline only']:,} | |"
        )
    rows.append(f"| run / baseline | {run['wall'] / b['seconds']:.2f}× | |")
    if r.get("diff"):
        d = r["diff"]
        rows.append(
            f"| **`ecm diff`**, wall clock (6-month HIGH_UTIL_ADULT window against the run's "
            f"rules: {d['gained']:,} gained, {d['lost']:,} lost; sides read from the run's "
            f"history: {', '.join(d.get('sides_recorded', [])) or 'none'}; "
            + ", ".join(f"{k} {v}" for k, v in d.get("timings", {}).items())
            + f") | **{d['wall']:.2f}** | {d['wall'] / floor:.1f} |"
        )
        rows.append(
            f"| diff / baseline; peak RSS of its process tree | "
            f"{d['wall'] / b['seconds']:.2f}× | {_gb(d['peak_rss'])} |"
        )
    elif r.get("diff_failed"):
        rows.append(f"| `ecm diff` | failed: {r['diff_failed']} | |")
    if r.get("rerun"):
        e = r["rerun"]
        t = e["timings"]
        stages = ", ".join(
            f"{k} {t[k]:.1f}" for k in ("ingest", "shard_inputs", "validate", "shards") if k in t
        )
        rows.append(
            f"| **rules-only rerun**, wall clock (`ecm run` again, same feeds and warehouse, the "
            f"6-month HIGH_UTIL_ADULT window; shard inputs kept: {e['inputs_kept']}; {stages}) "
            f"| **{e['wall']:.2f}** | {e['wall'] / floor:.1f} |"
        )
        rows.append(
            f"| rerun / baseline; peak RSS of its process tree | "
            f"{e['wall'] / b['seconds']:.2f}× | {_gb(e['peak_rss'])} |"
        )
    elif r.get("rerun_failed"):
        rows.append(f"| rules-only rerun | failed: {r['rerun_failed']} | |")
    if r.get("second"):
        s = r["second"]
        rows.append(
            f"| second month: ingest run 2 / run 1 (+{s['drop_rows']:,} lines) | "
            f"{s['ingest']:.2f} / {run['timings'].get('ingest', float('nan')):.2f} = "
            f"{s['ratio']:.0%} | wall {s['wall']:.1f} s, peak {_gb(s['peak_rss'])} |"
        )
    rows.append(
        f"\nOther processes' CPU during `ecm run`: {run.get('other_cores', float('nan')):.2f} "
        f"of {os.cpu_count()} cores on average; load average (1 min, the bench's own work "
        f"included) before / after it: {r['load_before']:.2f} / {r['load_after']:.2f}."
    )
    if r.get("validation"):
        v = r["validation"]
        checked = v["checks"] + v["gx suites"]
        rows.append(
            f"\nValidation ({v['row checks']:.0f} generated row checks over every feed, then "
            f"the GX suites): plain scan of the validated columns {v['scan']:.2f} s; "
            f"generated checks {v['checks']:.2f} s ({v['checks'] / v['scan']:.2f}x); GX "
            f"suites {v['gx suites']:.2f} s ({v['gx suites'] / v['scan']:.2f}x) plus import "
            f"{v['gx import']:.2f} s; checks + suites {checked:.2f} s = "
            f"{checked / v['scan']:.2f}x the scan."
        )
    return rows


def targets(results: list[dict]) -> list[str]:
    failed = [r for r in results if r["run"] is None]
    notes = [f"`ecm run` failed on {r['label']}: not in the targets." for r in failed]
    rows = ["| target | measured | met |", "|---|---|---|"]
    parquet = sorted(
        (r for r in results if r["fmt"] == "parquet" and r["run"] is not None),
        key=lambda r: r["members"],
    )
    if not parquet:
        return ["### Targets", "", *notes, "", *rows, "| (no Parquet set measured) | | |"]
    big = parquet[-1]
    who = f"{big['members']:,} Parquet"
    if big["members"] != 1_500_000:
        notes.append(
            f"The target size, 1,500,000 members, was not measured in this run: the targets "
            f"below are taken at {who}."
        )
    run = big["run"]
    peak = max([run["peak_rss"]] + ([big["second"]["peak_rss"]] if big.get("second") else []))
    rows.append(f"| peak RSS ≤ 8 GB ({who}) | {_gb(peak)} | {'yes' if peak <= 8e9 else '**no**'} |")
    ratio = run["wall"] / big["baseline"]["seconds"]
    rows.append(
        f"| full run faster than the one-rule baseline ({who}) | run / baseline = {ratio:.2f}× "
        f"({run['wall']:.1f} s / {big['baseline']['seconds']:.1f} s) | "
        f"{'yes' if ratio < 1 else '**no**'} |"
    )
    if big.get("contract_floor"):
        c = big["contract_floor"]
        least = c["store"] + c["startup"]
        rows.append(
            f"| … reachable at all? store + start-up, before any check or rule ({who}) | "
            f"{least:.1f} s = {least / big['baseline']['seconds']:.2f}× the baseline | "
            f"{'yes' if least < big['baseline']['seconds'] else '**no**'} |"
        )
    floor = run["wall"] / big["scan"]["seconds"]
    rows.append(
        f"| run ≤ 4× the scan floor, aim ({who}) | {floor:.1f}× ({big['scan']['seconds']:.2f} s "
        f"floor) | {'yes' if floor <= 4 else '**no**'} |"
    )
    if len(parquet) > 1:
        small = parquet[0]
        growth = run["wall"] / small["run"]["wall"]
        members = big["members"] / small["members"]
        rows.append(
            f"| {small['members']:,} → {big['members']:,} members ({members:.1f}×): time ≤ "
            f"5.5× | {growth:.2f}× ({small['run']['wall']:.1f} s → {run['wall']:.1f} s) | "
            f"{'yes' if growth <= 5.5 else '**no**'} |"
        )
    else:
        rows.append("| time growth 300k → 1.5M ≤ 5.5× | one Parquet size only | — |")
    for r in parquet:
        if r.get("diff"):
            d, base = r["diff"], r["baseline"]["seconds"]
            rows.append(
                f"| `ecm diff` ≤ 1× the baseline ({r['members']:,} Parquet) | "
                f"{d['wall'] / base:.2f}× ({d['wall']:.1f} s / {base:.1f} s) | "
                f"{'yes' if d['wall'] <= base else '**no**'} |"
            )
        if r.get("rerun"):
            e, base = r["rerun"], r["baseline"]["seconds"]
            rows.append(
                f"| rules-only rerun ≤ 1× the baseline ({r['members']:,} Parquet) | "
                f"{e['wall'] / base:.2f}× ({e['wall']:.1f} s / {base:.1f} s) | "
                f"{'yes' if e['wall'] <= base else '**no**'} |"
            )
    second = [r for r in parquet if r.get("second")]
    for r in second or []:
        s = r["second"]
        rows.append(
            f"| second month's ingest ≤ 20% of the first's ({r['members']:,} Parquet) | "
            f"{s['ratio']:.0%} ({s['ingest']:.1f} s / {r['run']['timings']['ingest']:.1f} s) | "
            f"{'yes' if s['ratio'] <= 0.2 else '**no**'} |"
        )
    if not second:
        failed = [r["second_failed"] for r in parquet if r.get("second_failed")]
        why = f"failed: {failed[0]}" if failed else "not measured in this run"
        rows.append(f"| second month's ingest ≤ 20% | {why} | — |")
    return ["### Targets", "", *(x for n in notes for x in (n, "")), *rows]


HOW = """How each figure is taken (`tests/bench.py`):

- **Feed sets**: `ecm.generate.generate_feeds`, seed 7, 24 months ending 2026-10-31, into
  `bench-data/feeds-<members>-24-<fmt>/`, reused while its `.bench-complete.json` (written
  last) matches; Parquet claims are one file, CSV claims a folder of 24 monthly drops.
- **Scan floor**: one DuckDB query per feed taking `max()` of each column, so each is read:
  the medical claims' {claim_cols} columns (the `read_columns` of
  data_contracts/medical_claim.toml: {event_cols}; plus diagnosis_code_2 … _25 and
  file_date; no procedure codes, since `methods.unplanned_stay` is `admit_type`) and the
  eligibility's {elig_cols} columns (the `read_columns` of data_contracts/eligibility.toml).
  The partner feeds (a few thousand rows) are left out.
- **Baseline**: `tests.bench.BASELINE_SQL`, one DuckDB query with DuckDB's defaults, on the
  same files: the latest version of each claim by file_date (a latest void, type of bill
  xx8, removes it); ED lines (institutional revenue 045x/0981, HCPCS 99281–99285 or
  G0380–G0384, POS 23 on a professional claim), one visit per member-date, its primary dx
  the institutional claim's diagnosis_code_1 (else the lowest claim id's), avoidable when
  noner + epct + edcnpa > 0.5 by an **exact** join to the NYU/Johnston table; acute stays
  type of bill 11x/12x with admit type 1, 2, 5 or empty (9 read as empty), one per
  member-admission date; both in the 12-month lookback; enrolled and alive on D, age in
  completed years on D; adults ≥ 5 visits or ≥ 3 stays, children 3 / 2. It returns the
  qualifying members (a few thousand rows).
- **Why its members differ from ecm's** (measured at 20,000 members, changing the query
  one step at a time): ecm looks a diagnosis missing from the NYU table up by its longest
  prefix of ≥ 3 characters (`methods.nyu_min_prefix_length`), and that explains nearly all
  members only ecm finds (with the prefix lookup and the next point, "ecm only" went from
  27 to 1 adult and from 14 to 0 children); ecm counts an ED visit on the admission date of
  an acute stay, or the day before, with the stay and not as a visit (that point alone took
  "baseline only" from 28 to 23 adults and from 17 to 7 children); the rest of "baseline
  only" are stays: ecm merges overlapping and adjacent claims into one stay and never counts
  newborn or delivery stays, where the baseline counts admission dates.
- **Contract floor** (`contract_floor`): what the contract makes any run pay before a
  check or a rule, on the same files. *Store*: per feed, one plain `create table as select`
  of every column some row holds a value in (the warehouse keeps every delivered column)
  into a new DuckDB file: no checks, casts or normalisation. *Start-up*: `python -c` of an
  empty Prefect flow, with `ecm run`'s environment (the temporary server included). When
  the two together exceed the baseline, no run that keeps the record in the warehouse and
  runs as a Prefect flow can be faster than it.
- **`ecm run`**: `.venv/bin/ecm run --input <set> --as-of 2026-10-31 --out <dir>/out
  --warehouse <dir>/warehouse.duckdb --quiet` in a subprocess of its own session, as a user
  runs it (Prefect's temporary server included, the default shard count); wall clock around
  the subprocess; the stage rows are summary.json's `timings_seconds` (`shards_*` are the
  shards' own events, assign and write, inside `shards`); "outside the stages" is the wall
  clock less the stages: Python and Prefect start-up, the flow's and tasks' overhead, the
  outputs' swap.
- **Peak RSS of the process tree**: every 0.2 s the bench reads /proc/*/stat and sums RSS
  over the subprocess, all its descendants (Prefect's server, Dask workers if any) and any
  process of its session; the table gives the largest sum. (`/usr/bin/time -v` gives only
  the largest single process.)
- **`ecm diff`**: right after `ecm run`, on its warehouse: `.venv/bin/ecm diff --rules
  <B> --warehouse <dir>/warehouse.duckdb --out <dir>/diff --quiet --json` in a subprocess
  of its own session, B the packaged rules file with `populations.HIGH_UTIL_ADULT.lookback_months
  = 6` (the DHCS 6-month adult window) and A the run's own rules file, read back from the
  warehouse's history; wall clock around the subprocess, peak RSS of its tree as above; the
  sides it read from the run's history and its steps' seconds from the summary it prints.
- **Rules-only rerun**: then `ecm run` again on the same feeds, warehouse and as-of date
  with rules B (`--rules`, into another `--out`), sampled as the first run: the shard
  inputs and the contracts' suite results the first run kept are read, not made again
  (`inputs_kept` says so); its stages are summary.json's `timings_seconds`.
- **Second month**: the same warehouse and output folder, `ecm run` again with the as-of
  date 2026-11-30 and one more claims drop beside the unchanged files: the lines filed in
  the latest month again, their dates and file_date a month later and their claim ids new
  (`second_month_feeds`); the figure is summary.json's `ingest` of run 2 over run 1's. Where
  the ingest is not incremental, run 2 reads every file again and the figure is a re-run.
"""


def section(results: list[dict], argv: list[str]) -> str:
    others = [r["run"].get("other_cores", 9.0) for r in results if r["run"]]
    quiet = max(others, default=9.0) < 0.25
    lines = [
        SECTION,
        "",
        f"`make bench` (`python -m tests.bench {' '.join(argv)}`), every figure from one run.",
        "",
        *machine(),
        "",
        (
            "The machine was quiet: other processes used under 0.25 of a core on average "
            "during every `ecm run`."
            if quiet
            else f"**The machine was not quiet**: other processes used up to "
            f"{max(others, default=float('nan')):.2f} of the {os.cpu_count()} cores on average "
            "during an `ecm run` (the table of each set says how much); the seconds are "
            "comparable within this run only, the memory figures are not affected."
        ),
        "",
    ]
    for r in results:
        lines += [*set_table(r), ""]
    lines += [*targets(results), ""]
    lines += HOW.format(
        claim_cols=len(scan_claim_columns_static()),
        event_cols=", ".join(load_contract("medical_claim").read_columns),
        elig_cols=len(load_contract("eligibility").read_columns),
    ).splitlines()
    return "\n".join(lines) + "\n"


def scan_claim_columns_static() -> list[str]:
    cols = list(load_contract("medical_claim").read_columns)
    cols += [f"diagnosis_code_{i}" for i in range(1, 26) if f"diagnosis_code_{i}" not in cols]
    return [*cols, "file_date"]


def write_section(path: Path, text: str) -> None:
    """Replace (or insert after the title) the "Scale (issue #7)" section of `path`."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if SECTION in old:
        head, rest = old.split(SECTION, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
    else:
        # Right under the title: the top section.
        title = old.find("\n") if old.startswith("# ") else -1
        head, tail = (old[: title + 1], old[title + 1 :].lstrip("\n")) if title >= 0 else ("", old)
    head = head.rstrip("\n") + "\n\n" if head.strip() else ""
    path.write_text(head + text + ("\n" + tail if tail else ""), "utf-8")


# --------------------------------------------------------------------------- main


def _choose(spec: str, sizes: list[int]) -> set[int]:
    if spec == "none":
        return set()
    if spec == "all":
        return set(sizes)
    if spec == "smallest":
        return {min(sizes)}
    if spec == "largest":
        return {max(sizes)}
    return {int(s) for s in spec.split(",") if s}


def measure(fs: FeedSet, work: Path, *, second: bool, validation: bool) -> dict:
    info = ensure_feeds(fs)
    print(f"[bench] {fs.label}: feeds {'cached' if info['cached'] else 'generated'}", flush=True)
    scan = scan_floor(fs.path)
    lines = info["rows"]["medical_claim"]
    assert scan["medical_claim rows"] == lines, (scan, lines)
    print(f"[bench] scan floor {scan['seconds']:.2f} s", flush=True)
    base = baseline(fs.path)
    counts = {c: base[c] for c in HIGH_UTIL}
    print(f"[bench] baseline {base['seconds']:.2f} s {counts}", flush=True)
    work.mkdir(parents=True, exist_ok=True)
    floor = contract_floor(fs.path, work)
    print(
        f"[bench] contract floor: store {floor['store']:.2f} s, start-up {floor['startup']:.2f} s",
        flush=True,
    )
    runs = work / f"run-{fs.members}-{fs.months}-{fs.fmt}"
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    load_before = os.getloadavg()[0]
    try:
        first = run_ecm(fs.path, runs / "out", runs / "warehouse.duckdb")
    except RunFailedError as failed:  # recorded; the other sets still run
        print(f"[bench] {failed}", flush=True)
        return {
            "label": fs.label,
            "members": fs.members,
            "fmt": fs.fmt,
            "claim_lines": lines,
            "scan": scan,
            "baseline": {k: v for k, v in base.items() if k != "members"},
            "contract_floor": floor,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "run": None,
            "failed": {"rc": failed.rc, "wall": failed.wall, "peak_rss": failed.peak_rss},
        }
    load_after = os.getloadavg()[0]
    print(f"[bench] ecm run {first.wall:.1f} s, peak {_gb(first.peak_rss)}", flush=True)
    overlap = compare_members(runs / "out", base)
    result = {
        "label": fs.label,
        "members": fs.members,
        "fmt": fs.fmt,
        "claim_lines": lines,
        "cached": info["cached"],
        "generate": info["generate_seconds"],
        "scan": scan,
        "baseline": {k: v for k, v in base.items() if k != "members"},
        "contract_floor": floor,
        "overlap": overlap,
        "load_before": load_before,
        "load_after": load_after,
        "run": {
            "wall": first.wall,
            "peak_rss": first.peak_rss,
            "samples": first.samples,
            "other_cores": first.other_cores,
            "timings": first.timings,
            "shards": (first.summary.get("shards") or {}).get("shards"),
            "HIGH_UTIL_ADULT": first.population("HIGH_UTIL_ADULT"),
            "HIGH_UTIL_CHILD": first.population("HIGH_UTIL_CHILD"),
            "assignments": first.summary.get("assignments"),
        },
    }
    try:
        diffed = run_diff(runs / "diff", runs / "warehouse.duckdb", runs)
        result["diff"] = {
            "wall": diffed.wall,
            "peak_rss": diffed.peak_rss,
            "gained": diffed.manifest["gained"],
            "lost": diffed.manifest["lost"],
            "sides_recorded": diffed.summary.get("sides_recorded", []),
            "timings": diffed.summary.get("timings_seconds", {}),
        }
        print(f"[bench] ecm diff {diffed.wall:.1f} s, peak {_gb(diffed.peak_rss)}", flush=True)
    except RunFailedError as failed:
        print(f"[bench] ecm diff: {failed}", flush=True)
        result["diff_failed"] = str(failed)
    try:  # the same feeds and warehouse, rules B: the shard inputs and suites are kept
        from tests.rules_file import rules_file_with

        rules_b = rules_file_with(runs, *DIFF_SETTING, name="rules-6-month-window.toml")
        rerun = run_ecm(fs.path, runs / "out-rules-b", runs / "warehouse.duckdb", rules=rules_b)
        result["rerun"] = {
            "wall": rerun.wall,
            "peak_rss": rerun.peak_rss,
            "timings": rerun.timings,
            "inputs_kept": (rerun.summary.get("shards") or {}).get("inputs_kept"),
        }
        print(f"[bench] rules-only rerun {rerun.wall:.1f} s", flush=True)
    except RunFailedError as failed:
        print(f"[bench] rules-only rerun: {failed}", flush=True)
        result["rerun_failed"] = str(failed)
    if second:
        feeds2, drop_rows = second_month_feeds(fs, runs / "feeds-second-month")
        as_of2 = dt.date(AS_OF.year, AS_OF.month + 1, 30) if AS_OF.month < 12 else AS_OF
        try:
            again = run_ecm(feeds2, runs / "out", runs / "warehouse.duckdb", as_of2)
        except RunFailedError as failed:
            print(f"[bench] second month: {failed}", flush=True)
            result["second_failed"] = str(failed)
            return result
        ingest2 = again.timings.get("ingest", float("nan"))
        result["second"] = {
            "as_of": as_of2.isoformat(),
            "drop_rows": drop_rows,
            "wall": again.wall,
            "peak_rss": again.peak_rss,
            "ingest": ingest2,
            "ratio": ingest2 / first.timings["ingest"],
            "timings": again.timings,
        }
        print(f"[bench] second month ingest {ingest2:.1f} s", flush=True)
    if validation:
        result["validation"] = validation_figures(fs, runs)
    shutil.rmtree(runs / "feeds-second-month", ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300000,1500000", help="Parquet sets, members")
    parser.add_argument("--csv-sizes", default="smallest", help="smallest|none|all|N,...")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument("--second-month", default="largest", help="smallest|largest|all|none|N,...")
    parser.add_argument("--validation", default="none", help="smallest|largest|all|none|N,...")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--markdown", type=Path, default=None, help="e.g. BENCHMARKS.md")
    args = parser.parse_args(argv)

    sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    csv = _choose(args.csv_sizes, sizes)
    sets = [FeedSet(n, args.months, "parquet", args.workdir) for n in sizes]
    sets += [FeedSet(n, args.months, "csv", args.workdir) for n in sorted(csv)]
    # The target size first, CSV last: a run cut short loses the least needed figures.
    sets.sort(key=lambda fs: (fs.fmt != "parquet", -fs.members))
    if args.generate_only:
        for fs in sets:
            info = ensure_feeds(fs)
            print(
                f"{fs.path}: {'cached' if info['cached'] else 'generated'} "
                f"({info['generate_seconds']} s when generated)",
                flush=True,
            )
        return
    second = _choose(args.second_month, sizes)
    validation = _choose(args.validation, sizes)
    results: list[dict] = []
    log = args.workdir / f"results-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    for fs in sets:
        results.append(
            measure(
                fs,
                args.workdir,
                second=fs.fmt == "parquet" and fs.members in second,
                validation=fs.fmt == "parquet" and fs.members in validation,
            )
        )
        log.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
        text = section(results, argv)
        if args.markdown:  # after every set: a later failure keeps the earlier figures
            write_section(args.markdown, text)
    print("\n" + text)


if __name__ == "__main__":
    main()
