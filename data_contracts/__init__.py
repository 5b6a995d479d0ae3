"""Data contracts: one TOML file per feed (columns, grain), read by the ingest.

The feed order below is the ingest order: eligibility first, because every other feed's
rows are checked against its members.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent

FEED_ORDER = (
    "eligibility",
    "medical_claim",
    "pharmacy_claim",
    "incarceration",
    "child_welfare",
    "ccs_enrollment",
    "homelessness",
    "nursing_facility_assessment",
    "provider_assignment",
)


@dataclass(frozen=True)
class FeedContract:
    """What a feed must and may hold."""

    name: str
    required: bool
    grain: str
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required_columns + self.optional_columns


def load_contract(name: str) -> FeedContract:
    data = tomllib.loads((CONTRACT_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    return FeedContract(
        name=data["name"],
        required=bool(data["required"]),
        grain=data["grain"],
        required_columns=tuple(data["required_columns"]),
        optional_columns=tuple(data["optional_columns"]),
    )


def load_contracts() -> dict[str, FeedContract]:
    """Every feed's contract, in ingest order."""
    return {name: load_contract(name) for name in FEED_ORDER}
