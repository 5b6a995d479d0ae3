"""Seeded synthetic feeds in the input contract (``ecm generate``).

`generate_feeds` writes a feed directory (docs/FEEDS.md): one file (medical_claim: a folder
of monthly drops) for every feed of the contracts (data_contracts) but the providers'
answers to a run (feeds.RUN_ANSWERS: the RTF and OTF), in its contract's
columns and order: `eligibility`, `medical_claim`, `pharmacy_claim` (the Tuva Project
input layer's columns) and the Medi-Cal partner feeds. The contracts say which feeds and
columns; the values are the generator's own. A feed without a writer of its own
(feeds.OWN_WRITERS) is a partner feed: its rows come from the base draw or the persona
recipes (personas.py), and a new contract's file is empty until a recipe gives it rows.

How it is built (one module each):

- palette.py: every code list, weight and rate the generator draws from, as data;
- personas.py: the persona recipes, members planted for each population of
  populations.md and for near misses of each rule, as a table;
- members.py: how members are numbered and chunked, demographics, households (children
  share a parent's subscriber_id), enrollment churn, deaths, conditions; `planted_personas`
  lists who was planted;
- feeds.py: eligibility, partner feeds, provider assignment, pharmacy;
- events.py: what happened to whom and when (visits, ED visits, stays ...), drawn from rates
  and a gamma frailty (a heavy tail of utilisation);
- claims.py: events billed as claims and lines, re-delivered versions, the output columns;
- providers.py: the provider simulator, not part of `generate_feeds`: what the ECM providers
  send back (RTF, OTF drops) answering a run's member information files (`ecm generate
  --answer`, `ecm demo` between its months);
- marker.py: the list of the files the generator wrote into a folder (`.ecm-generated.json`).

Decisions:

- **Chunks.** Members are generated in chunks of `members.CHUNK_MEMBERS` (25,000), each
  with its own random stream `numpy.random.default_rng([seed, chunk])`, so memory is bounded
  by one chunk's claims whatever the member count, and the output does not depend on the
  machine. Text files are appended chunk by chunk (CSV: the header once); Parquet output
  writes one part file per batch into a hidden folder and joins the parts with a streaming
  `sink_parquet` at the end. Medical claims are rendered to strings in batches of
  `BATCH_LINES` lines, so the wide frame never holds a whole chunk.
- **Files.** CSV: `medical_claim/medical_claim_YYYY-MM.csv` per file_date month, every
  other feed one `NAME.csv`. Parquet: one `NAME.parquet` per feed. Before writing, the
  files of a previous generation in `out_dir` (these names only) are removed.
- **Dates and windows.** The history window is the `months` months ending at `end`
  (end − months + 1 day .. end). A claim's file_date is the first of the month after its
  last service day, for some claims 1–3 months later still (2–4 months after the month of
  service); never later than the first of the month after `end` (the latest delivery a
  run at `end` can see: late claims of the last months are delivered early, not dropped).
  Re-delivered versions come 1–3 months after the original, within the same limit.
- **Determinism.** Same arguments, same bytes: no clock, no hash order, no process pool.
  `ingest_datetime` is left empty; provider NPIs are fixed (the same for every seed).
- **Personas** are the last members of each chunk; a recipe is planted only when its
  claims fall inside the window (a 12-month window cannot hold a claim 18 months back).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from data_contracts import feed_order
from ecm.errors import OutputError
from ecm.generate.calendar import Anchors, to_date
from ecm.generate.claims import LinePools, Renderer, build_claims, finalize, hospice_claims
from ecm.generate.events import Palette, base_events, concat, persona_events
from ecm.generate.feeds import (
    RUN_ANSWERS,
    add_persona_rows,
    draw_partner_feeds,
    draw_program_enrollment,
    ecm_provider_roster,
    eligibility,
    partner_frames,
    pharmacy,
    provider_assignment,
)
from ecm.generate.marker import GENERATED_MARKER, generated_files, write_marker
from ecm.generate.members import CHUNK_MEMBERS, draw_members, planted_personas
from ecm.generate.personas import PERSONAS, chunk_plan
from ecm.generate.vocab import Vocab

__all__ = ["FEEDS", "PERSONAS", "GenerationStats", "generate_feeds", "planted_personas"]

# Every feed of the contracts, in feed order (data_contracts), but those answering a run
# (feeds.RUN_ANSWERS): the files a generation writes. The plan's own lists
# (feeds.PLAN_LISTS, the ecm_provider roster) are written once, after the members.
FEEDS = tuple(feed for feed in feed_order() if feed not in RUN_ANSWERS)
BATCH_LINES = 250_000
# The random stream of the program enrollments and hospice claims: numpy's
# default_rng([seed, chunk, EXCLUSIONS_STREAM]), apart from the chunk's own.
EXCLUSIONS_STREAM = 16
# Hospice claims are numbered as if of chunk HOSPICE_CLAIM_CHUNK0 + chunk, so their
# claim_ids never meet the chunk's own ((chunk + 1) * 10^9 + n).
HOSPICE_CLAIM_CHUNK0 = 5_000
PARTS_DIR = ".generate-parts"


@dataclass(frozen=True)
class GenerationStats:
    """What a generation wrote: rows per feed and the files."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


class _Writer:
    """Appends frames to the feed files of one format."""

    def __init__(self, out_dir: Path, fmt: str) -> None:
        self.out_dir = out_dir
        self.fmt = fmt
        self.rows: dict[str, int] = dict.fromkeys(FEEDS, 0)
        self.files: dict[Path, bool] = {}  # path -> header written (insertion ordered)
        self.parts: dict[str, list[Path]] = {}
        self.parts_dir = out_dir / PARTS_DIR
        self._clear()

    def _clear(self) -> None:
        """Make `out_dir` ready: new, empty, or written by an earlier generation, whose
        files (those its marker lists) are removed; anything else is refused, and no
        file this generator did not write is ever deleted."""
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputError(
                f"{self.out_dir} is a file; ecm generate writes a feed folder. Choose a new "
                f"or empty folder."
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        marker = self.out_dir / GENERATED_MARKER
        present = [p for p in self.out_dir.rglob("*") if p.is_file() and p != marker]
        if not present:
            return
        earlier = generated_files(self.out_dir)
        if earlier is None:
            raise OutputError(
                f"The folder {self.out_dir} is not empty and was not written by ecm generate "
                f"(it has no {GENERATED_MARKER}), so generating into it could overwrite or "
                f"delete feeds. Choose a new or empty folder."
            )
        ours = {self.out_dir / name for name in earlier}
        foreign = sorted(str(p.relative_to(self.out_dir)) for p in present if p not in ours)
        foreign = [f for f in foreign if not f.startswith(PARTS_DIR)]
        if foreign:
            raise OutputError(
                f"The folder {self.out_dir} was written by ecm generate but also holds files it "
                f"did not write ({', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}); "
                f"it will not overwrite or delete them. Choose a new or empty folder."
            )
        for path in ours:
            path.unlink(missing_ok=True)
        marker.unlink()
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def write(self, feed: str, frame: pl.DataFrame, month: str | None = None) -> None:
        self.rows[feed] += frame.height
        if self.fmt == "parquet":
            folder = self.parts_dir / feed
            folder.mkdir(parents=True, exist_ok=True)
            parts = self.parts.setdefault(feed, [])
            path = folder / f"{len(parts):06d}.parquet"
            frame.write_parquet(path)
            parts.append(path)
            return
        if month is None:
            path = self.out_dir / f"{feed}.csv"
        else:
            path = self.out_dir / feed / f"{feed}_{month}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
        started = path in self.files
        with path.open("ab" if started else "wb") as handle:
            frame.write_csv(handle, include_header=not started, date_format="%Y-%m-%d")
        self.files[path] = True

    def close(self) -> GenerationStats:
        if self.fmt == "parquet":
            for feed in FEEDS:
                parts = self.parts.get(feed, [])
                if not parts:
                    continue
                target = self.out_dir / f"{feed}.parquet"
                (
                    pl.scan_parquet(parts)
                    .with_columns(pl.col(pl.Null).cast(pl.String))
                    .sink_parquet(target, maintain_order=True)
                )
                self.files[target] = True
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        write_marker(self.out_dir, (str(p.relative_to(self.out_dir)) for p in self.files))
        return GenerationStats(rows=dict(self.rows), files=sorted(self.files))


def generate_feeds(
    out_dir: Path,
    *,
    members: int,
    months: int,
    end: dt.date,
    seed: int = 42,
    fmt: str = "csv",
) -> GenerationStats:
    """Write a seeded synthetic feed directory into `out_dir`.

    `members` members (M00000001 ...), `months` months of claims history ending at `end`,
    files as CSV (medical_claim a folder of monthly drops) or Parquet. Same arguments,
    same bytes. The planted personas are `planted_personas(members, months=, end=)`.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, not {members}")
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    if fmt not in {"csv", "parquet"}:
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out_dir = Path(out_dir)
    anchors = Anchors.of(end, months)
    vocab = Vocab()
    pal = Palette(vocab)
    pools = LinePools(vocab)
    writer = _Writer(out_dir, fmt)
    spans: list[pl.DataFrame] = []
    counties: list[pl.DataFrame] = []
    for chunk, first in enumerate(range(0, members, CHUNK_MEMBERS)):
        size = min(CHUNK_MEMBERS, members - first)
        span, county = _generate_chunk(writer, chunk, first, size, anchors, seed, vocab, pal, pools)
        spans.append(span)
        counties.append(county)
    county_members = (
        pl.concat(counties).group_by("county").agg(pl.col("members").sum().alias("members"))
    )
    writer.write(
        "ecm_provider",
        ecm_provider_roster(pl.concat(spans), county_members, members, anchors.end),
    )
    return writer.close()


def _generate_chunk(
    writer: _Writer,
    chunk: int,
    first: int,
    size: int,
    anchors: Anchors,
    seed: int,
    vocab: Vocab,
    pal: Palette,
    pools: LinePools,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Write one chunk of members; its provider_assignment rows and its members per
    county, which the roster is drawn from."""
    rng = np.random.default_rng([seed, chunk])
    slots = chunk_plan(size, anchors)
    m = draw_members(rng, first, size, anchors, slots, vocab)
    facts = draw_partner_feeds(rng, m, anchors, vocab)
    add_persona_rows(facts, m, anchors, slots)
    events = concat(
        [
            base_events(
                rng,
                m,
                anchors,
                pal,
                homeless_members=facts.homeless,
                nf_residents=facts.nf_residents,
            ),
            persona_events(m, anchors, pal, slots),
        ]
    )
    claims = build_claims(rng, events, m, anchors, pal, pools)
    claims, lines = finalize(rng, claims, chunk, anchors, pal, pools)

    members_eligibility = eligibility(m, anchors)
    writer.write("eligibility", members_eligibility)
    _write_claims(writer, claims, lines, Renderer(vocab, first))
    writer.write("pharmacy_claim", pharmacy(rng, m, anchors, chunk))
    # Programs that duplicate ECM and hospice claims: a random stream of their own, so the
    # other feeds are what they were before these were generated.
    xrng = np.random.default_rng([seed, chunk, EXCLUSIONS_STREAM])
    hospice = draw_program_enrollment(xrng, m, anchors, facts)
    for feed, frame in partner_frames(facts, first).items():
        writer.write(feed, frame)
    spans = provider_assignment(rng, m, anchors)
    writer.write("provider_assignment", spans)
    stays = hospice_claims(
        xrng, hospice.member, hospice.admission, hospice.discharge, anchors, vocab
    )
    h_claims, h_lines = finalize(xrng, stays, HOSPICE_CLAIM_CHUNK0 + chunk, anchors, pal, pools)
    _write_claims(writer, h_claims, h_lines, Renderer(vocab, first))
    county = (
        members_eligibility.unique("member_id", keep="last", maintain_order=True)
        .group_by("county")
        .agg(pl.len().alias("members"))
    )
    return spans.select("member_id", "provider_npi", "start_date", "end_date"), county


def _write_claims(writer: _Writer, claims: dict, lines: dict, renderer: Renderer) -> None:
    """Lines ordered by file month, claim, version and line; written in batches."""
    line_claim = lines["claim"]
    file_day = claims["file_date"][line_claim]
    order = np.lexsort(
        (lines["line"], claims["version"][line_claim], claims["seq"][line_claim], file_day)
    )
    sorted_days = file_day[order]
    bounds = np.flatnonzero(np.diff(sorted_days)) + 1
    for segment in np.split(order, bounds):
        if segment.size == 0:
            continue
        month = to_date(int(file_day[segment[0]])).strftime("%Y-%m")
        for start in range(0, segment.size, BATCH_LINES):
            rows = segment[start : start + BATCH_LINES]
            writer.write("medical_claim", renderer.render(claims, lines, rows), month=month)
