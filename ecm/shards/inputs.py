"""Household shards: the shard map, the shard count, and each shard's inputs.

A run splits its members into N shards so that each shard's events and rules fit in a
bounded amount of memory (ecm.shards.run runs one shard). HOMELESS_FAMILY reads a whole
household, so a household never spans shards:

1. *households* (`int__member_household`): label propagation over shared subscriber_ids
   (sql/intermediate/int__member_household_step.sql), repeated until no label changes;
   a member's household is the smallest member_id linked to it through any chain of
   shared subscriber_ids, on any eligibility row. A member without one is its own.
2. *shards* (`int__member_shard`): md5 of the household key modulo N
   (sql/shards/macros.sql; `shard_of` is the same in Python).
3. *shard inputs*: DuckDB writes every table the rules read, joined to the shard map by
   member_id, once, as Parquet partitions `ROOT/<table>/shard=<i>/*.parquet`. A row whose
   member is not in the eligibility feed (a claim, a partner-feed row) is its own
   household, so every row lands in exactly one shard and the counts of a sharded run
   equal an unsharded one's. The diagnoses are written with all their history and
   bounded by the run's `since` when a shard reads them, so the files hold nothing of the
   as-of date or the rules' lookbacks.
4. *kept for the next run* (`prepare_shard_inputs`): the set is named by the sha256 of
   what it was made from (`shard_inputs_key`: the staged files and their staging code as
   `ingest_files` records them, the member checks, the claim-version settings, the
   staged row counts, every select and SQL file it runs, N) and kept in the warehouse's
   folder (ecm.warehouse.kept). A run whose key is the kept set's (a rerun with another
   rules file or as-of date over the same staged feeds, the same N) reads that set and
   writes none.

Nothing here holds member data in Python: DuckDB reads the warehouse and writes files.
Writing shard inputs writes nothing to the warehouse: the households, the shard map and
the macro are temporary (the connection's own), so a connection that opened the warehouse
read only (`ecm diff`) writes them as a run's copy does; only a run names the set it keeps
in its own copy's catalog (`prepare_shard_inputs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

import ecm
from data_contracts.sql import lit
from ecm.config.rules import Rules
from ecm.ingest.tables import staged_digest
from ecm.run.file_modes import FileModes, restrict
from ecm.warehouse import kept
from ecm.warehouse.inputs import InputSelect, input_selects
from ecm.warehouse.sql import SQL_DIR, install_macros, load_sql

log = logging.getLogger("ecm.shards")

# Label propagation converges in as many rounds as the longest chain of shared
# subscriber_ids; a feed needing more than this is not a household structure.
MAX_HOUSEHOLD_ROUNDS = 100


def shard_of(household_key: str | None, shards: int) -> int:
    """The shard of a household key: the same as the SQL macro ecm_household_shard."""
    digest = hashlib.md5((household_key or "").encode("utf-8")).hexdigest()
    return int(digest[:15], 16) % shards


def install_shard_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(load_sql("shards/macros"))


def build_households(con: duckdb.DuckDBPyConnection) -> int:
    """Create the temporary table `int__member_household` (one row per member of
    stg__eligibility: member_id, household_id); returns the rounds of label propagation it
    took."""
    con.execute(
        "create or replace temp table household_label as "
        "select distinct member_id, member_id as household_id "
        "from stg__eligibility where member_id is not null"
    )
    step = load_sql("intermediate/int__member_household_step")
    rounds = 0
    changed = 1
    while changed:
        rounds += 1
        if rounds > MAX_HOUSEHOLD_ROUNDS:
            raise RuntimeError(
                f"Households did not settle in {MAX_HOUSEHOLD_ROUNDS} rounds of label propagation."
            )
        con.execute(f"create or replace temp table household_next as {step}")
        changed = con.execute(
            "select count(*) from household_next as next "
            "inner join household_label as label on next.member_id = label.member_id "
            "where next.household_id <> label.household_id"
        ).fetchall()[0][0]
        con.execute("drop table household_label")
        con.execute("alter table household_next rename to household_label")
    con.execute(
        "create or replace temp table int__member_household as select * from household_label"
    )
    con.execute("drop table household_label")
    return rounds


def build_shard_map(con: duckdb.DuckDBPyConnection, shards: int) -> None:
    """Create the temporary table `int__member_shard` (member_id, household_id, shard)
    for `shards` shards from `int__member_household`."""
    install_shard_macros(con)
    con.execute(
        f"create or replace temp table int__member_shard as "
        f"{load_sql('intermediate/int__member_shard')}",
        {"shards": shards},
    )


def shard_count(members: int, rules: Rules, workers: int = 1) -> int:
    """Shards for `members` eligibility members so that one shard's run stays within the
    rules file's memory budget: members × run.bytes_per_member / run.memory_budget_gib,
    rounded up, at least 1. With `workers` running shards side by side (Dask), the budget
    is shared: one shard fits the budget divided by the workers, and every worker has a
    shard (N is at least `workers`)."""
    budget = rules.setting("run.memory_budget_gib")
    if workers > 1:
        budget = budget / workers
    per_member = rules.setting("run.bytes_per_member")
    return max(1, workers, math.ceil(members * per_member / (budget * 2**30)))


def shard_tables(with_procedures: bool) -> dict[str, InputSelect]:
    """The select of every table a shard reads, by table name: the inputs of
    ecm.warehouse.inputs (those ecm.shards.evaluate.read_inputs reads), with the
    claims' procedure codes when `with_procedures`. `$since` bounds the diagnoses read."""
    return input_selects(frozenset({"procedures"}) if with_procedures else frozenset())


@dataclass(frozen=True)
class ShardPaths:
    """Where one shard's inputs are: `root/<table>/shard=<shard>/*.parquet`, and the run's
    `since` that bounds the dated ones (ecm.shards.evaluate.scan_inputs). Plain paths and
    values only, so a task runner can send it to another process."""

    root: Path
    shard: int
    tables: tuple[str, ...]
    present_feeds: frozenset[str]
    since: dt.date | None = None

    def files(self) -> dict[str, str]:
        """The Parquet glob of every table of this shard, by table name."""
        return {t: str(self.root / t / f"shard={self.shard}" / "*.parquet") for t in self.tables}


@dataclass(frozen=True)
class ShardSet:
    """A run's shard inputs: how many shards, members and households, where, the run's
    `since`, the key they were made from (`shard_inputs_key`) and whether a kept set was
    reused (else they were written under `root` in the run's work folder)."""

    root: Path
    shards: int
    members: int
    households: int
    tables: tuple[str, ...]
    present_feeds: frozenset[str]
    since: dt.date | None = None
    key: str | None = None
    reused: bool = False

    def paths(self) -> list[ShardPaths]:
        return [
            ShardPaths(self.root, i, self.tables, self.present_feeds, self.since)
            for i in range(self.shards)
        ]


# The kind of set the warehouse's folder keeps shard inputs under (ecm.warehouse.kept).
SHARD_INPUTS = "shard_inputs"
# Raised when the files a set holds change shape: an older set is then never read.
SHARD_INPUTS_FORMAT = 1
# The SQL the households, the shard map and the writes run, besides the inputs' selects.
_SHARD_SQL = (
    SQL_DIR / "macros.sql",
    SQL_DIR / "shards" / "macros.sql",
    SQL_DIR / "intermediate" / "int__member_household_step.sql",
    SQL_DIR / "intermediate" / "int__member_shard.sql",
    Path(__file__).resolve(),
)


def shard_inputs_key(
    con: duckdb.DuckDBPyConnection, shards: int, tables: dict[str, InputSelect]
) -> str:
    """sha256 of everything a shard-input set is made from: what is staged
    (ecm.ingest.tables.staged_digest: the staged files and the code that staged them, the
    member checks, the claim-version settings, the staged tables' row counts), each
    input's select and the SQL around it, N and the format. Two warehouses with one key
    hold the same shard inputs."""
    digest = hashlib.sha256()

    def add(label: str, value) -> None:
        digest.update(label.encode())
        digest.update(json.dumps(value, default=str, sort_keys=True).encode())

    add("format", [SHARD_INPUTS_FORMAT, ecm.__version__, shards])
    add("staged", staged_digest(con))
    add("selects", {name: select.sql for name, select in tables.items()})
    for path in _SHARD_SQL:
        add(path.name, Path(path).read_text(encoding="utf-8"))
    return digest.hexdigest()


def member_count(con: duckdb.DuckDBPyConnection) -> int:
    """The members of the eligibility feed (those the households are built of)."""
    return con.execute(
        "select count(distinct member_id) from stg__eligibility where member_id is not null"
    ).fetchall()[0][0]


def kept_shard_inputs(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    shards: int,
    present_feeds: frozenset[str],
    since: dt.date | None,
    *,
    with_procedures: bool = False,
    borrow_into: Path | None = None,
) -> ShardSet | None:
    """The shard inputs `warehouse` keeps for what `con` has staged now, in `shards`
    shards, or None. A run holding the warehouse's lock reads them where they are; a
    reader without it (`ecm diff`) passes `borrow_into`, and reads them there
    (ecm.warehouse.kept.borrow: hard links, so a run removing the set meanwhile takes
    nothing from it; None when the set went before it was borrowed). `con` may be read
    only."""
    install_macros(con)
    tables = shard_tables(with_procedures)
    key = shard_inputs_key(con, shards, tables)
    found = kept.find(con, warehouse, SHARD_INPUTS, key, borrow_into)
    if found is None:
        return None
    root, info = found
    log.info(
        "shard inputs kept from an earlier run over the same staged feeds: %d shard%s",
        shards,
        "s" if shards != 1 else "",
    )
    return ShardSet(
        root,
        shards,
        info["members"],
        info["households"],
        tuple(tables),
        present_feeds,
        since,
        key,
        reused=True,
    )


def prepare_shard_inputs(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    work_root: Path,
    rules: Rules,
    since: dt.date | None,
    present_feeds: frozenset[str],
    *,
    shards: int | None = None,
    workers: int = 1,
    with_procedures: bool = False,
) -> ShardSet:
    """The run's shard inputs: the set `warehouse` keeps when its key is this run's (made
    from what is staged now, for the same N), read where it is (`kept_shard_inputs`);
    else a new set written under `work_root` (`write_shard_inputs`) and named in `con`'s
    catalog, for the run to adopt into the warehouse's folder just before its copy is
    swapped in (`adopt_shard_inputs`). `con` is the run's warehouse copy; `warehouse` the
    file it replaces (where the kept sets are)."""
    n = shards if shards is not None else shard_count(member_count(con), rules, workers)
    if n < 1:
        raise ValueError(f"A run needs at least one shard, not {n}.")
    found = kept_shard_inputs(
        con, warehouse, n, present_feeds, since, with_procedures=with_procedures
    )
    if found is not None:
        return found
    written = write_shard_inputs(
        con, work_root, rules, since, present_feeds, shards=n, with_procedures=with_procedures
    )
    key = shard_inputs_key(con, n, shard_tables(with_procedures))
    info = {"shards": n, "members": written.members, "households": written.households}
    kept.mark_complete(work_root, info)
    kept.record(con, SHARD_INPUTS, key, info)
    return replace(written, key=key)


def adopt_shard_inputs(shard_set: ShardSet, warehouse: Path) -> None:
    """Move a set this run wrote into the warehouse's folder (ecm.warehouse.kept.adopt),
    for the next run with the same key; a reused set is where it belongs already."""
    if not shard_set.reused and shard_set.key is not None:
        kept.adopt(shard_set.root, warehouse, SHARD_INPUTS, shard_set.key)


def prune_shard_inputs(warehouse: Path, modes: FileModes) -> int:
    """Once the run's warehouse copy is swapped in (the lock still held): remove the
    shard-input sets it no longer names (`prune_kept`)."""
    return prune_kept(warehouse, SHARD_INPUTS, modes)


def prune_kept(warehouse: Path, kind: str, modes: FileModes, named_sql: str | None = None) -> int:
    """Once the run's warehouse copy is swapped in (the lock still held): remove the sets
    of `kind` it no longer names (ecm.warehouse.kept.prune; `named_sql`, the select of
    the keys it names when its catalog does not hold them) and give those kept and the
    folders holding them exactly `modes`, as the warehouse file is given (an older or
    wider mode is narrowed). Returns the sets removed."""
    removed = kept.prune(warehouse, kind, named_sql)
    folder = kept.files_folder(warehouse)
    if folder.is_dir() and not folder.is_symlink():
        folder.chmod(modes.folder)
        if (folder / kind).is_dir():
            restrict(folder / kind, modes)
    return removed


def write_shard_inputs(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    rules: Rules,
    since: dt.date | None,
    present_feeds: frozenset[str],
    *,
    shards: int | None = None,
    workers: int = 1,
    with_procedures: bool = False,
) -> ShardSet:
    """Build the households and the shard map, choose N (`shards`, else from the member
    count and the rules file's memory budget shared by `workers`: `shard_count`) and
    write every shard's inputs under `root` (which must not exist yet). Each table is read
    from the warehouse once, the dated ones with all their history: `since` is the run's,
    handed to the shards that read them."""
    install_macros(con)
    rounds = build_households(con)
    members, households = con.execute(
        "select count(*), count(distinct household_id) from int__member_household"
    ).fetchall()[0]
    n = shards if shards is not None else shard_count(members, rules, workers)
    if n < 1:
        raise ValueError(f"A run needs at least one shard, not {n}.")
    build_shard_map(con, n)
    tables = shard_tables(with_procedures)
    root.mkdir(parents=True)
    for table, input_select in tables.items():
        # The select's own parameters (all of a dated input's history); the partitioned
        # write adds the shard count.
        select, select_params = input_select.sql, input_select.params(None)
        if n == 1:
            # One shard: no map to join and no partitioned write (which took twice the
            # CPU of a plain one: 300k members' claim lines 27 s against 13 s).
            (root / table / "shard=0").mkdir(parents=True)
            con.execute(
                f"copy ({select}) to {lit(root / table / 'shard=0' / 'data_0.parquet')} "
                f"(format parquet)",
                select_params,
            )
            continue
        con.execute(
            f"""
            copy (
                select
                    source.*,
                    coalesce(map.shard, ecm_household_shard(source.member_id, $shards)) as shard
                from ({select}) as source
                left join int__member_shard as map on source.member_id = map.member_id
            ) to {lit(root / table)} (format parquet, partition_by (shard))
            """,
            {"shards": n, **(select_params or {})},
        )
        # A shard without rows of this table still gets a file with its columns.
        for i in range(n):
            folder = root / table / f"shard={i}"
            if not folder.is_dir():
                folder.mkdir(parents=True)
                con.execute(
                    f"copy (select * from ({select}) limit 0) "
                    f"to {lit(folder / 'empty.parquet')} (format parquet)",
                    select_params,
                )
    log.info(
        "%d members in %d households (%d rounds), %d shard%s",
        members,
        households,
        rounds,
        n,
        "s" if n != 1 else "",
    )
    return ShardSet(root, n, members, households, tuple(tables), present_feeds, since)
