"""The project's layers (issue #15): a module imports only the layers below its own, never
one above (README's architecture picture; each package's docstring says what it may
import). Lowest first. `transforms/` (pure rules) and `data_contracts/` (the feeds'
contracts) import nothing of `ecm`; `ecm.cli` is the top. Imports inside functions count;
imports only for type checking do not (tests/test_imports.py finds circles)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ecm", "flows", "transforms", "data_contracts")

LAYERS = (
    "transforms",
    "data_contracts",
    "ecm",  # the package itself: __version__
    "ecm.errors",
    "ecm.files",
    "ecm.config",
    "ecm.run",
    "ecm.warehouse",
    "ecm.ingest",
    "ecm.shards",
    "ecm.loop",
    "ecm.deliver",
    "ecm.quarterly",
    "ecm.diff",
    "ecm.generate",
    "flows",
    "ecm.cli",
)


def layer_of(module: str) -> str:
    """`ecm.ingest.stage` is in the layer `ecm.ingest`; `flows.monthly` in `flows`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "ecm" and len(parts) > 1 else parts[0]


def runtime_imports(path: Path) -> set[str]:
    """The first-party modules `path` imports at run time (`from ecm import files` is
    `ecm.files`), those under `if TYPE_CHECKING:` left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in node.body
        for n in ast.walk(child)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ecm":
                names.update(f"ecm.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def wrong_imports(root: Path = ROOT) -> list[str]:
    wrong = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            own = layer_of(module)
            if own not in LAYERS:
                wrong.append(f"{module}: its layer {own} is not in LAYERS")
                continue
            for name in sorted(runtime_imports(path)):
                theirs = layer_of(name)
                if name == "ecm.__version__":
                    theirs = "ecm"
                if theirs == own:
                    continue
                if theirs not in LAYERS or LAYERS.index(theirs) > LAYERS.index(own):
                    wrong.append(f"{module} ({own}) imports {name} ({theirs}), a layer above")
    return wrong


def test_no_module_imports_a_layer_above_its_own():
    assert wrong_imports() == []


def test_an_upward_import_is_found(tmp_path):
    (tmp_path / "ecm" / "config").mkdir(parents=True)
    (tmp_path / "ecm" / "config" / "__init__.py").write_text("")
    (tmp_path / "ecm" / "config" / "bad.py").write_text(
        "def f():\n    from ecm.deliver.console import say\n"
    )
    (tmp_path / "ecm" / "config" / "fine.py").write_text(
        "from typing import TYPE_CHECKING\nfrom ecm.errors import RulesError\n"
        "if TYPE_CHECKING:\n    from ecm.deliver.catalog import Output\n"
    )
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir(exist_ok=True)
    assert wrong_imports(tmp_path) == [
        "ecm.config.bad (ecm.config) imports ecm.deliver.console (ecm.deliver), a layer above"
    ]
