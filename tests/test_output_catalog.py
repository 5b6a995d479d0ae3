"""The output catalog (ecm.deliver.catalog) against what a run writes and what
docs/OUTPUTS.md says: every file declared is written and nothing else, each data file has
its declared columns and types and is unique on its grain key, and the docs list the same
files, grains and columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from ecm.deliver import catalog
from ecm.deliver.catalog import RUN, Column, Output
from ecm.deliver.write import write_run_outputs
from tests.story_pof import AS_OF, write_story

OUTPUTS_MD = Path(__file__).resolve().parents[1] / "docs" / "OUTPUTS.md"
POLARS_TYPES = {
    "text": (pl.String,),
    "date": (pl.Date,),
    "integer": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt32, pl.UInt64),
    "decimal": (pl.Float32, pl.Float64),
    "boolean": (pl.Boolean,),
}


# --- a run's files against the catalog ------------------------------------------------


@pytest.fixture(scope="module")
def out(harness, tmp_path_factory) -> Path:
    """One run of the one-member-per-population story: every population, provider folders
    and an `unassigned/` one."""
    from flows.monthly import monthly

    root = tmp_path_factory.mktemp("catalog")
    folder = root / "out" / "2026-10"
    monthly(input_dir=write_story(root / "feeds"), as_of=AS_OF, out_dir=folder)
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _frame(folder: Path, path: str) -> pl.DataFrame:
    if path.endswith(".parquet"):
        return pl.read_parquet(folder / path)
    if path.endswith(".csv"):
        return pl.read_csv(folder / path, try_parse_dates=True)
    # a member information file: every value as text, an empty value null
    return pl.read_csv(folder / path, separator="|", infer_schema=False)


def _data_files(folder: Path) -> list[tuple[str, Output]]:
    found = [(p, catalog.output_of(p)) for p in _files(folder)]
    return [(p, o) for p, o in found if o is not None and o.is_data]


@pytest.mark.flow
def test_every_file_declared_is_written_and_nothing_else(out):
    written = _files(out)
    undeclared = [p for p in written if catalog.output_of(p) is None]
    assert undeclared == []
    for output in catalog.outputs_of(RUN):
        assert any(output.matches(p) for p in written), f"{output.name} was not written"
    assert any(p.startswith("providers/unassigned/") for p in written)  # the story has one


@pytest.mark.flow
def test_the_manifest_lists_every_file_but_itself_with_rows_for_data_files_only(out):
    listed = json.loads((out / catalog.MANIFEST).read_text())["files"]
    assert sorted(f["path"] for f in listed) == [p for p in _files(out) if p != catalog.MANIFEST]
    for entry in listed:
        output = catalog.output_of(entry["path"])
        assert ("rows" in entry) == output.is_data, entry["path"]
        if output.is_data:
            assert entry["rows"] == _frame(out, entry["path"]).height, entry["path"]


def _expected_columns(output: Output, population_codes: list[str]) -> list[str]:
    """The declared columns with `<code>` expanded (the MIF's, in code order)."""
    names: list[str] = []
    for column in output.columns:
        if "<code>" in column.name:
            names += [column.name.replace("<code>", code) for code in population_codes]
        else:
            names.append(column.name)
    return names


@pytest.mark.flow
def test_each_data_file_has_the_columns_and_types_declared(out, rules):
    for path, output in _data_files(out):
        frame = _frame(out, path)
        if "<code>" in " ".join(c.name for c in output.columns):
            assert frame.columns == _expected_columns(output, rules.population_codes), path
        for name in frame.columns:
            column = output.column_of(name)
            assert column is not None, f"{path}: column {name} is not in the catalog"
            values = frame[name]
            if path.endswith(".parquet"):
                assert values.dtype in POLARS_TYPES[column.type], f"{path}: {name} {values.dtype}"
            if column.values:
                assert set(values.drop_nulls().unique()) <= set(column.values), f"{path}: {name}"
            if not column.may_be_empty:
                assert values.null_count() == 0, f"{path}: {name} is declared never empty"
        for column in output.columns:
            assert any(column.matches(c) for c in frame.columns), f"{path}: no {column.name}"


@pytest.mark.flow
def test_each_data_file_is_unique_on_its_grain_key(out):
    for path, output in _data_files(out):
        frame = _frame(out, path)
        # the story's are, but for the quarantine and the review (no provider answered)
        assert frame.height > 0 or path in ("quarantine.parquet", "review.parquet"), path
        key = list(output.grain_key)
        assert key, f"{path} declares no grain key"
        assert frame.select(key).unique().height == frame.height, f"{path}: not one row per {key}"


# --- the catalog alone ----------------------------------------------------------------


def test_names_with_placeholders_match_only_what_they_stand_for():
    mif = catalog.output_of("providers/1234567890/ECM_MIF_1234567890_202610.txt")
    assert mif is not None and mif.name == catalog.MIF
    assert catalog.output_of("providers/unassigned/ECM_MIF_unassigned_202610.txt") is mif
    assert catalog.output_of("providers/123456789/ECM_MIF_123456789_202610.txt") is None
    assert catalog.output_of("providers/1234567890/ECM_MIF_1234567890_2026.txt") is None
    assert catalog.output_of("providers/1234567890/notes.txt") is None
    assert catalog.output_of("summary.json.bak") is None
    assert catalog.output_of("summary.json", command="ecm diff") is None


def test_a_column_is_found_by_its_name_before_a_pattern():
    metrics = catalog.output_of("member_metrics.parquet")
    assert metrics.column_of("homelessness_evidence_dates_12m").name == (
        "homelessness_evidence_dates_12m"
    )
    assert metrics.column_of("smi_dx_dates_12m").name == "<criterion>_dates_12m"
    assert metrics.column_of("smi_dx_dates_24m").name == "<criterion>_dates_24m"
    assert metrics.column_of("smi_dx_dates_36m") is None


def test_a_column_says_its_type_as_the_docs_do():
    assert Column("a", "text").described == "text"
    assert Column("a", "date", may_be_empty=True).described == "date, may be empty"
    assert Column("a", "text", values=("new", "ended")).described == "`new` / `ended`"
    with pytest.raises(ValueError, match="not one of"):
        Column("a", "string")


def _writes(*files: tuple[str, int | None]):
    def writer(run, _output):
        for name, rows in files:
            (run.folder / name).write_text("x")
            run.wrote(run.folder / name, rows)

    return writer


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ((("stray.txt", None),), "stray.txt is not in the output catalog of test"),
        ((("data.parquet", None),), "data.parquet: the catalog and its writer disagree"),
        ((("about.json", 3),), "about.json: the catalog and its writer disagree"),
    ],
    ids=["undeclared", "data-without-rows", "rows-for-a-non-data-file"],
)
def test_a_writer_that_strays_from_the_catalog_is_a_bug(tmp_path, monkeypatch, written, message):
    declared = (
        Output("data.parquet", "one row per x", _writes(*written), "test", (Column("x", "text"),)),
        Output("about.json", "the run", _writes(), "test"),
    )
    monkeypatch.setattr(catalog, "OUTPUTS", catalog.OUTPUTS + declared)
    with pytest.raises(ValueError, match=re.escape(message)):
        write_run_outputs(tmp_path, None, {}, None, None, None, {}, tmp_path / "w", "test")


def test_the_writers_are_called_once_each_in_catalog_order(tmp_path, monkeypatch):
    calls: list[str] = []

    def first(run, output):
        calls.append(output.name)
        for name in ("a.json", "b.json"):
            (run.folder / name).write_text("{}")
            run.wrote(run.folder / name)

    declared = (
        Output("a.json", "the run", first, "test"),
        Output("b.json", "the run", first, "test"),
        Output("c.json", "the run", lambda _run, o: calls.append(o.name), "test"),
    )
    monkeypatch.setattr(catalog, "OUTPUTS", catalog.OUTPUTS + declared)
    write_run_outputs(tmp_path, None, {}, None, None, None, {}, tmp_path / "w", "test")
    assert calls == ["a.json", "c.json"]


# --- docs/OUTPUTS.md ------------------------------------------------------------------


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _table(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """The first markdown table in `lines`: its header cells and rows."""
    rows = []
    for line in lines:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    if not rows:
        return [], []
    return rows[0], rows[2:]


def _names(cell: str) -> list[str]:
    """The file or column names a table cell gives: its `quoted` names, else its
    comma-separated words."""
    quoted = re.findall(r"`([^`]+)`", cell)
    return quoted or [n.strip() for n in cell.split(",") if n.strip()]


def _docs() -> str:
    return _section(
        OUTPUTS_MD.read_text(encoding="utf-8"), "## Files the commands write under `--out`"
    )


def test_the_docs_list_every_file_with_its_grain_and_command():
    header, rows = _table(_docs().splitlines())
    assert header == ["file", "grain", "written by"]
    documented = []
    for file_cell, grain, command in rows:
        (name,) = _names(file_cell)
        documented.append((name, grain, command.strip("`")))
    assert documented == [(o.name, o.grain, o.command) for o in catalog.OUTPUTS]


def _heading_files(heading: str) -> list[str]:
    """The files a `### ` heading names before its colon (`a.parquet / a.csv: …`)."""
    names = [n.strip().strip("`") for n in heading.split(": ", maxsplit=1)[0].split(" / ")]
    return [n for n in names if "." in n and " " not in n]


def test_the_docs_give_every_data_file_its_columns_and_types():
    declared_names = {o.name for o in catalog.OUTPUTS}
    documented: dict[str, list[tuple[str, str | None]]] = {}
    for block in re.split(r"\n### ", _docs())[1:]:
        heading, _, body = block.partition("\n")
        names = _heading_files(heading)
        assert set(names) <= declared_names, f"OUTPUTS.md describes {names}, not declared"
        header, rows = _table(body.splitlines())
        if names and header and header[0] == "column":
            typed = header.index("type") if "type" in header else None
            columns = [(n, row[typed] if typed else None) for row in rows for n in _names(row[0])]
            documented.update(dict.fromkeys(names, columns))
    declared = {o.name: o for o in catalog.OUTPUTS if o.is_data}
    documented = {name: columns for name, columns in documented.items() if name in declared}
    assert sorted(documented) == sorted(declared)
    for name, columns in documented.items():
        output = declared[name]
        assert [n for n, _ in columns] == [c.name for c in output.columns], name
        for column_name, kind in columns:
            if kind is not None:
                described = next(c for c in output.columns if c.name == column_name).described
                assert kind == described, f"{name}: {column_name} is `{kind}`, not `{described}`"
