"""The run's inputs: one select per input over the warehouse, declared once.

An input is what the events, the population rules and the member information file read
of the staged feeds, by the name a population's rule takes it under (`Population.reads`):

- one input per contract that declares `read_columns`, named as its feed: those columns
  of every row of `stg__<feed>`, in the contract's order (the contract is the one place a
  feed's columns are written), e.g. `eligibility` (every row, enrolled or not:
  HOMELESS_FAMILY reads the household), `incarceration`, `provider_assignment`;
- the claims, read as sql/intermediate builds them (`_claim_inputs`): `claim_lines` (the
  medical_claim contract's `read_columns` of the current versions,
  int__medical_claim_current), `diagnoses` (int__claim_diagnosis, from `$since`) and
  `procedures` (int__claim_procedure; read on demand, when a method needs it).

Three readers use these selects, so they read the same rows and columns:
ecm.shards.evaluate.read_inputs (in memory: tests, one-process runs),
ecm.shards.inputs.shard_tables (each shard's Parquet files) and
ecm.deliver.member_files.read_mif_inputs (the eligibility and provider spans of the
members holding a population).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from data_contracts import FeedContract, load_contracts
from data_contracts.sql import ident_list
from ecm.warehouse.sql import load_sql

CLAIMS_FEED = "medical_claim"
# The parameter by which a select reads history from a date on (the claims' diagnoses).
SINCE = "$since"


@dataclass(frozen=True)
class InputSelect:
    """One input: its name, the feed it comes from (an absent feed leaves it empty), its
    select over the warehouse, and whether it is read only on demand (when a method of the
    rules file needs it: ecm.shards.evaluate.METHOD_INPUTS)."""

    name: str
    feed: str
    sql: str
    on_demand: bool = False
    # The column by which `$since` bounds the rows (a select reading history from a date).
    dated_by: str | None = None

    def params(self, since: dt.date | None) -> dict[str, dt.date | None] | None:
        """The select's parameters: `since` for a select that reads history from it
        (None: all of it)."""
        return {"since": since} if SINCE in self.sql else None


def _claim_inputs(claims: FeedContract) -> tuple[InputSelect, ...]:
    """The claims' inputs, built by sql/intermediate: lines in their current versions,
    diagnoses in long form, ICD-10-PCS procedure codes."""
    lines = f"select {ident_list(claims.read_columns)} from int__medical_claim_current"
    return (
        InputSelect("claim_lines", claims.name, lines),
        InputSelect(
            "diagnoses",
            claims.name,
            load_sql("intermediate/int__claim_diagnosis"),
            dated_by="service_date",
        ),
        InputSelect("procedures", claims.name, load_sql("intermediate/int__claim_procedure"), True),
    )


def _feed_input(contract: FeedContract) -> InputSelect:
    columns = ident_list(contract.read_columns)
    return InputSelect(contract.name, contract.name, f"select {columns} from stg__{contract.name}")


def all_input_selects(
    contracts: Mapping[str, FeedContract] | None = None,
) -> dict[str, InputSelect]:
    """Every input's select, by name, in feed order (`contracts`: default every contract).
    Two inputs of one name are a ValueError."""
    contracts = load_contracts() if contracts is None else contracts
    selects: dict[str, InputSelect] = {}
    for feed, contract in contracts.items():
        if feed == CLAIMS_FEED:
            found = _claim_inputs(contract)
        elif contract.read_columns:
            found = (_feed_input(contract),)
        else:
            continue
        for select in found:
            if select.name in selects:
                raise ValueError(
                    f"The input {select.name} of the {feed} feed is the name of an input of "
                    f"the {selects[select.name].feed} feed too."
                )
            selects[select.name] = select
    return selects


def input_selects(
    needed: frozenset[str] = frozenset(), contracts: Mapping[str, FeedContract] | None = None
) -> dict[str, InputSelect]:
    """The inputs a run reads, by name: every input but those read on demand that
    `needed` does not name."""
    return {
        name: select
        for name, select in all_input_selects(contracts).items()
        if not select.on_demand or name in needed
    }
