"""How generated members are numbered and chunked, the one thing members.py and
personas.py both need (members.py draws a chunk around its planted personas; personas.py
lists who is planted in which chunk).

Members are generated in chunks of `CHUNK_MEMBERS`; the member at global index i is
`member_id` `M` + 8 digits of i + 1.
"""

from __future__ import annotations

import polars as pl

# Members generated together; memory is bounded by one chunk's claims.
CHUNK_MEMBERS = 25_000


def member_ids(index: pl.Expr) -> pl.Expr:
    """`M` + 8 digits of index + 1 (index 0 -> M00000001)."""
    return pl.format("M{}", (index + 1).cast(pl.String).str.zfill(8))
