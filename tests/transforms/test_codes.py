import polars as pl

from transforms.codes import in_value_set, tag_codes


def value_set(rows, name="vs"):
    return pl.DataFrame(
        [
            {"code_system": "icd10cm", "code": c, "match": m, "description": "", "value_set": name}
            for c, m in rows
        ]
    )


def test_exact_and_prefix_matching():
    vs = value_set([("F20", "prefix"), ("F431", "prefix"), ("Z590", "exact")])
    codes = pl.DataFrame({"c": ["F209", "F20", "F4310", "F43", "Z590", "Z5900", None, "G20"]})
    got = codes.select(in_value_set(pl.col("c"), vs).alias("x"))["x"].to_list()
    assert got == [True, True, True, False, True, False, False, False]


def test_empty_value_set_matches_nothing():
    vs = pl.DataFrame(
        schema={
            "code_system": pl.String,
            "code": pl.String,
            "match": pl.String,
            "description": pl.String,
            "value_set": pl.String,
        }
    )
    codes = pl.DataFrame({"c": ["A00"]})
    assert codes.select(in_value_set(pl.col("c"), vs).alias("x"))["x"].to_list() == [False]


def test_tag_codes_returns_one_row_per_concept_match():
    vs = pl.concat(
        [
            value_set([("F20", "prefix")], "smi"),
            value_set([("F", "prefix")], "any_f"),
            value_set([("F209", "exact")], "exact_f209"),
        ]
    )
    codes = pl.LazyFrame({"id": [1, 2], "code": ["F209", "J069"]})
    got = tag_codes(codes, "code", vs).collect().sort("value_set")
    assert got.select("id", "value_set").rows() == [(1, "any_f"), (1, "exact_f209"), (1, "smi")]
