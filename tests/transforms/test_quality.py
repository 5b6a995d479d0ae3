import polars as pl
import pytest

from transforms.quality import npi_check_digit_ok, npi_failures


@pytest.mark.parametrize(
    ("npi", "ok"),
    [
        ("1234567893", True),  # the CMS worked example
        ("1234567890", False),
        ("1003811290", True),  # a facility NPI of the Tuva sample
        ("123456789", False),  # nine digits
        ("12345678930", False),
        ("12345A7893", False),
        (None, None),
    ],
)
def test_npi_check_digit(npi, ok):
    frame = pl.DataFrame({"npi": [npi]}, schema={"npi": pl.String})
    assert frame.select(npi_check_digit_ok(pl.col("npi")).alias("ok"))["ok"][0] is ok


def test_failures_are_counted_per_feed_and_column():
    counts = pl.LazyFrame(
        {
            "feed": ["medical_claim"] * 3 + ["provider_assignment"],
            "column": ["rendering_npi", "rendering_npi", "facility_npi", "provider_npi"],
            "npi": ["1234567893", "1234567890", "1111111111", "1234567893"],
            "lines": [10, 4, 2, 7],
        }
    )
    got = npi_failures(counts).collect()
    assert got.rows() == [
        ("medical_claim", "facility_npi", 1, 2),
        ("medical_claim", "rendering_npi", 1, 4),
    ]
