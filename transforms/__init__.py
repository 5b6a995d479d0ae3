"""Pure transforms: `pl.LazyFrame` in, `pl.LazyFrame` out. No paths, clock, environment or
Prefect in here; every rule is testable with a five-row frame. Code lists arrive as value-set
frames (columns `code`, `match`), thresholds and methods as plain parameters.
"""
