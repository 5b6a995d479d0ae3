"""The bytes of every data file a run writes, pinned (issue #15: the house is rebuilt around
the rules; what the rules write must not move).

Three runs: the high-utiliser story (tests/story.py), the one-member-per-population story
(tests/story_pof.py) and 20,000 generated members (ecm.generate, seed 42). For each, the
sha256 of every data file: the assignments (Parquet and CSV), evidence, member metrics,
changes, quarantine, exclusions, referrals, review, and every provider's member
information file. The hashes live in
`tests/pinned_outputs.json`, written by `python -m tests.test_pinned_outputs` (generated,
never edited by hand); a change that moves a byte fails here, and is either a defect or a
deliberate change of an output, rewritten with that command and said in the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pytest

PINNED = Path(__file__).with_name("pinned_outputs.json")
DATA_FILES = (
    "assignments.parquet",
    "assignments.csv",
    "evidence.parquet",
    "member_metrics.parquet",
    "changes.parquet",
    "quarantine.parquet",
    "exclusions.parquet",
    "referrals.parquet",
    "review.parquet",
)
GENERATED_MEMBERS = 20_000
GENERATED_END = dt.date(2026, 10, 31)


def _hashes(out: Path) -> dict[str, str]:
    files = [out / name for name in DATA_FILES] + sorted(out.glob("providers/*/ECM_MIF_*.txt"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _run(feeds: Path, as_of: dt.date, out: Path) -> dict[str, str]:
    from flows.monthly import monthly

    monthly(input_dir=feeds, as_of=as_of, out_dir=out)
    return _hashes(out)


def _stories(root: Path) -> dict[str, tuple[Path, dt.date]]:
    from ecm.generate import generate_feeds
    from tests import story, story_pof

    generated = root / "generated"
    generate_feeds(
        generated, members=GENERATED_MEMBERS, months=24, end=GENERATED_END, seed=42, fmt="csv"
    )
    return {
        "story": (story.write_story(root / "story"), story.AS_OF),
        "story_pof": (story_pof.write_story(root / "story_pof"), story_pof.AS_OF),
        "generated_20000": (generated, GENERATED_END),
    }


@pytest.fixture(scope="module")
def runs(harness, tmp_path_factory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("pinned")
    return {
        name: _run(feeds, as_of, root / "out" / name / as_of.strftime("%Y-%m"))
        for name, (feeds, as_of) in _stories(root / "feeds").items()
    }


@pytest.mark.flow
@pytest.mark.parametrize("name", ["story", "story_pof", "generated_20000"])
def test_every_data_file_keeps_its_bytes(runs, name):
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert runs[name] == pinned[name]


def main() -> None:  # pragma: no cover - writes the golden file
    """`python -m tests.test_pinned_outputs`: run the three stories and write the hashes."""
    import tempfile

    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as folder, prefect_test_harness(server_startup_timeout=120):
        root = Path(folder)
        hashes = {
            name: _run(feeds, as_of, root / "out" / name / as_of.strftime("%Y-%m"))
            for name, (feeds, as_of) in _stories(root / "feeds").items()
        }
    PINNED.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {PINNED}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    main()
