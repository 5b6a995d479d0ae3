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
   equal an unsharded one's.

Nothing here holds member data in Python: DuckDB reads the warehouse and writes files.
Nothing here writes to the warehouse either: the households, the shard map and the macro
are temporary (the connection's own), so a connection that opened the warehouse read only
(`ecm diff`) writes shard inputs as a run's copy does.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data_contracts.sql import lit
from ecm.config.rules import Rules
from ecm.warehouse.inputs import InputSelect, input_selects
from ecm.warehouse.sql import install_macros, load_sql

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
    """Where one shard's inputs are: `root/<table>/shard=<shard>/*.parquet`. Plain paths
    and values only, so a task runner can send it to another process."""

    root: Path
    shard: int
    tables: tuple[str, ...]
    present_feeds: frozenset[str]

    def files(self) -> dict[str, str]:
        """The Parquet glob of every table of this shard, by table name."""
        return {t: str(self.root / t / f"shard={self.shard}" / "*.parquet") for t in self.tables}


@dataclass(frozen=True)
class ShardSet:
    """A run's shard inputs: how many shards, members and households, and where."""

    root: Path
    shards: int
    members: int
    households: int
    tables: tuple[str, ...]
    present_feeds: frozenset[str]

    def paths(self) -> list[ShardPaths]:
        return [
            ShardPaths(self.root, i, self.tables, self.present_feeds) for i in range(self.shards)
        ]


def write_shard_inputs(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    rules: Rules,
    since,
    present_feeds: frozenset[str],
    *,
    shards: int | None = None,
    workers: int = 1,
    with_procedures: bool = False,
) -> ShardSet:
    """Build the households and the shard map, choose N (`shards`, else from the member
    count and the rules file's memory budget shared by `workers`: `shard_count`) and
    write every shard's inputs under `root` (which must not exist yet). Each table is read
    from the warehouse once."""
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
        # The select's own parameters; the partitioned write adds the shard count.
        select, select_params = input_select.sql, input_select.params(since)
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
    return ShardSet(root, n, members, households, tuple(tables), present_feeds)
