"""A plan's own value sets (value_sets/ beside its rules file) are the ones its run reads:
the monthly flow under the test harness."""

import json

import polars as pl

from tests.rules_file import DEFAULT_DATA, to_toml
from tests.story import AS_OF, EXPECTED, write_story


def test_a_run_reads_the_value_sets_beside_its_rules_file(harness, tmp_path):
    from flows.monthly import monthly

    plan = tmp_path / "plan"
    (plan / "value_sets").mkdir(parents=True)
    (plan / "rules.toml").write_text(to_toml(DEFAULT_DATA))
    # The plan's ED revenue codes lack 0450, which the story's ED claims carry.
    (plan / "value_sets" / "ed_revenue_code.csv").write_text(
        "code_system,code,match,description\nrevenue_code,0981,exact,Professional fees ER\n"
    )
    out = tmp_path / "out" / "2026-10"
    monthly(
        input_dir=write_story(tmp_path / "feeds"),
        as_of=AS_OF,
        out_dir=out,
        rules_file=plan / "rules.toml",
    )
    got = set(pl.read_parquet(out / "assignments.parquet").select("member_id", "pof_code").rows())
    assert got == {("K", "HIGH_UTIL_ADULT")} < EXPECTED  # only the member of 3 stays is left
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["reference"]["value_sets/ed_revenue_code.csv"]
    assert entry["path"] == str((plan / "value_sets" / "ed_revenue_code.csv").resolve())
