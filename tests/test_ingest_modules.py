"""The ingest package's modules (ecm/ingest/__init__.py says what each owns): imports
inside it go one way, in the order below (no circle); it imports nothing of the stages
above it; and `STAGING_CODE` holds every module, so that a change to any code that
decides the staged rows stages every file again."""

from __future__ import annotations

import ast
from pathlib import Path

import ecm.ingest
from ecm.ingest.incremental import STAGING_CODE

PACKAGE = Path(ecm.ingest.__file__).resolve().parent
# Lowest first: a module may import only those before it.
ORDER = (
    "discover",
    "fingerprints",
    "header",
    "read_text",
    "read_parquet",
    "read_excel",
    "measure",
    "read",
    "tables",
    "delivered",
    "claim_versions",
    "incremental",
    "stage",
    "result",
    "__init__",
)
MAY_IMPORT = ("ecm.errors", "ecm.files", "ecm.config", "ecm.run", "ecm.warehouse", "data_contracts")


def imported(path: Path) -> set[str]:
    """The modules `path` imports (`from ecm import files` as `ecm.files`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def first_party(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in {"ecm", "data_contracts", "transforms", "flows"}


def test_every_module_of_the_package_has_its_place_in_the_order():
    assert sorted(p.stem for p in PACKAGE.glob("*.py")) == sorted(ORDER)


def test_a_module_imports_only_the_modules_before_it_and_no_stage_above():
    wrong = []
    for position, module in enumerate(ORDER):
        for name in imported(PACKAGE / f"{module}.py"):
            if name.startswith("ecm.ingest."):
                inner = name.split(".")[2]
                if inner in ORDER and ORDER.index(inner) >= position:
                    wrong.append(f"{module} imports {inner}")
            elif (
                first_party(name)
                and name not in {"ecm", "ecm.ingest", "ecm.__version__"}
                and not name.startswith(MAY_IMPORT)
            ):
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_staging_code_holds_every_module_of_the_package():
    assert set(PACKAGE.glob("*.py")) <= {Path(p).resolve() for p in STAGING_CODE}
