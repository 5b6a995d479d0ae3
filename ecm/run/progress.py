"""Progress a person can watch: the run's stages, the feed files, the shards, with rows and
seconds.

One reporter (`reporter()`) receives what the flow, the ingest and the command do: a
*stage* (`with reporter().stage("ingest") as part:`), a *file* or a *step* within the
current stage, and a stage's *progress* (`shards: 2 of 4 done`). The command chooses how
it is shown (`shown(quiet=, as_json=)`):

- **rich**, when stderr is a terminal: a live display, a line per stage with a spinner,
  its rows when known and its elapsed time, which keeps ticking while a long query runs
  (rich refreshes from a thread of its own); under a stage, a line per feed file (rows
  read, staged, quarantined) or step;
- **plain lines** through the `ecm` logger otherwise: one when a stage, file or step
  starts, one when it ends with its rows and seconds
  (`[06:01:12] ingest: medical_claim.parquet — 9,362,113 rows read, 9,362,113 staged,
  0 quarantined (31.8 s)`);
- **JSON** under `--json`: the same events, one object per line, through the `ecm`
  logger's JSON formatter (`event`, `stage`, `status`, `rows`, `unit`, `seconds`, …;
  docs/OUTPUTS.md);
- **nothing** under `--quiet`.

Without the command (tests, a deployment) the reporter logs plain lines through the `ecm`
logger: shown wherever that logger is configured, silent where it is not. Only stage
names, feed and file names (relative to the input folder), counts and seconds: never
member data.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.spinner import Spinner
from rich.text import Text

from ecm.run.logs import LOGGER_NAME, configure_logging

STAGE, FILE, STEP, PROGRESS = "stage", "file", "step", "progress"
STARTED, DONE, FAILED = "started", "done", "failed"


@dataclass
class Part:
    """A stage, or a file or step within one, while it runs and once it has ended."""

    kind: str  # STAGE, FILE or STEP
    name: str  # the stage's name, the file's path relative to the input folder, the step
    stage: str | None  # the stage it belongs to (its own name for a stage)
    feed: str | None = None
    rows: int | None = None
    unit: str = "rows"
    counts: dict[str, int] = field(default_factory=dict)
    done: int | None = None  # a stage's items done, of `total` (the shards)
    total: int | None = None
    status: str = STARTED
    seconds: float | None = None
    started: float = field(default_factory=time.perf_counter)
    reporter: Reporter | None = field(default=None, repr=False, compare=False)

    def elapsed(self) -> float:
        return self.seconds if self.seconds is not None else time.perf_counter() - self.started

    def count(self, rows: int, unit: str | None = None, **counts: int) -> None:
        """Set the part's rows (what `unit` says they are) and any other counts."""
        self.rows = int(rows)
        if unit:
            self.unit = unit
        self.counts.update({k: int(v) for k, v in counts.items()})
        if self.reporter is not None:
            self.reporter.renderer.updated(self)


class Renderer(Protocol):
    def started(self, part: Part) -> None: ...
    def updated(self, part: Part) -> None: ...
    def advanced(self, part: Part, item: str | None, fields: dict[str, Any]) -> None: ...
    def finished(self, part: Part) -> None: ...
    def close(self) -> None: ...


class Reporter:
    """Stages, files and steps, timed, handed to a renderer."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._stages: list[Part] = []
        self._open: Part | None = None  # a stage begun, not yet ended (`begin`)
        self._lock = threading.Lock()

    def begin(self, name: str) -> None:
        """Begin stage `name`, which lasts until the next stage begins (or the display
        closes): what happens before the flow's first stage, e.g. Prefect starting."""
        self._end_open(DONE)
        self._open = Part(STAGE, name, name, reporter=self)
        self.renderer.started(self._open)

    def _end_open(self, status: str) -> None:
        if self._open is not None:
            part, self._open = self._open, None
            self._end(part, status)

    @contextmanager
    def stage(self, name: str) -> Iterator[Part]:
        """Time the block as stage `name`; the part yielded takes its rows (`count`)."""
        self._end_open(DONE)
        part = Part(STAGE, name, name, reporter=self)
        self._stages.append(part)
        try:
            with self._timed(part):
                yield part
        finally:
            self._stages.remove(part)

    def file(self, file: str, *, feed: str | None = None):
        """Time the block as reading `file` (a path relative to the input folder)."""
        return self._timed(Part(FILE, file, self._stage_name(), feed=feed, reporter=self))

    def step(self, name: str):
        """Time the block as step `name` of the current stage (`resolving claim versions`)."""
        return self._timed(Part(STEP, name, self._stage_name(), reporter=self))

    def advance(
        self,
        done: int,
        total: int,
        *,
        item: str | None = None,
        rows: int | None = None,
        unit: str | None = None,
        seconds: float | None = None,
        **fields: Any,
    ) -> None:
        """`done` of the current stage's `total` items are done, the last `item` with
        `rows` (added to the stage's) in `seconds`, and `fields` for --json."""
        if not self._stages:
            return
        with self._lock:
            part = self._stages[-1]
            part.done, part.total = done, total
            if rows is not None:
                part.rows = (part.rows or 0) + int(rows)
                part.unit = unit or part.unit
            extra = {"rows": rows, "unit": unit, "seconds": _round(seconds), **fields}
            self.renderer.advanced(part, item, {k: v for k, v in extra.items() if v is not None})

    def close(self, *, failed: bool = False) -> None:
        """End the display (before the summary or an error is printed). Idempotent."""
        self._end_open(FAILED if failed else DONE)
        self.renderer.close()

    def _stage_name(self) -> str | None:
        return self._stages[-1].name if self._stages else None

    @contextmanager
    def _timed(self, part: Part) -> Iterator[Part]:
        self.renderer.started(part)
        try:
            yield part
        except BaseException:
            self._end(part, FAILED)
            raise
        self._end(part, DONE)

    def _end(self, part: Part, status: str) -> None:
        part.seconds = time.perf_counter() - part.started
        part.status = status
        self.renderer.finished(part)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


# ---------------------------------------------------------------- nothing (--quiet)


class NullRenderer:
    def started(self, part: Part) -> None:
        pass

    def updated(self, part: Part) -> None:
        pass

    def advanced(self, part: Part, item: str | None, fields: dict[str, Any]) -> None:
        pass

    def finished(self, part: Part) -> None:
        pass

    def close(self) -> None:
        pass


# ------------------------------------------- plain lines and JSON, through the logger


def _counts_text(part: Part) -> str:
    """`9,362,113 rows read, 9,362,113 staged, 0 quarantined`, `300 members`, or ``."""
    if part.rows is None:
        return ""
    text = f"{part.rows:,} {part.unit}"
    return ", ".join([text, *(f"{n:,} {k}" for k, n in part.counts.items())])


def _fields(part: Part) -> dict[str, Any]:
    """The part's event as --json shows it."""
    record: dict[str, Any] = {"event": part.kind, "stage": part.stage}
    if part.kind == FILE:
        record.update(file=part.name, feed=part.feed)
    elif part.kind == STEP:
        record["step"] = part.name
    record["status"] = part.status
    if part.rows is not None:
        record.update(rows=part.rows, unit=part.unit, **part.counts)
    if part.seconds is not None:
        record["seconds"] = _round(part.seconds)
    return record


class LogRenderer:
    """Each start and end as one INFO record of the `ecm.run.progress` logger: a plain line
    (`[06:01:12] ingest: done — 9,362,113 rows read (31.8 s)`) or, with the JSON
    formatter (--json), one object carrying the event's fields (`record.progress`)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(f"{LOGGER_NAME}.progress")

    def _emit(self, message: str, fields: dict[str, Any]) -> None:
        self.log.info(message, extra={"progress": fields})

    def started(self, part: Part) -> None:
        prefix = f"{part.stage}: " if part.stage else ""
        if part.kind == STAGE:
            message = f"{part.name}: started"
        elif part.kind == FILE:
            message = f"{prefix}reading {part.name}"
        else:
            message = f"{prefix}{part.name}"
        self._emit(message, _fields(part))

    def updated(self, part: Part) -> None:
        pass

    def advanced(self, part: Part, item: str | None, fields: dict[str, Any]) -> None:
        text = f"{part.name}: {part.done} of {part.total} done"
        rows, seconds = fields.get("rows"), fields.get("seconds")
        unit = fields.get("unit") or "rows"
        detail = ", ".join(t for t in (item, f"{rows:,} {unit}" if rows is not None else "") if t)
        text += f" — {detail}" if detail else ""
        text += f" ({seconds:.1f} s)" if seconds is not None else ""
        record = {"event": PROGRESS, "stage": part.name, "done": part.done, "total": part.total}
        self._emit(text, {**record, **({"item": item} if item else {}), **fields})

    def finished(self, part: Part) -> None:
        prefix = f"{part.stage}: " if part.stage else ""
        what = "done" if part.status == DONE else "failed"
        counts = _counts_text(part)
        if part.kind == STAGE:
            message = f"{part.name}: {what}"
        elif part.kind == FILE:
            message = f"{prefix}{part.name}" + ("" if counts and what == "done" else f" {what}")
        else:
            message = f"{prefix}{part.name} — {what}"
        message += f" — {counts}" if counts else ""
        self._emit(f"{message} ({part.seconds:.1f} s)", _fields(part))

    def close(self) -> None:
        pass


# ------------------------------------------------------------ rich, on a terminal


class _StatusColumn(ProgressColumn):
    """A spinner while running, ✓ when done, ✗ when failed."""

    def __init__(self) -> None:
        super().__init__()
        self.spinner = Spinner("dots", style="cyan")

    def render(self, task: Task) -> Any:
        status = task.fields.get("status")
        if status == DONE:
            return Text("✓", style="green")
        if status == FAILED:
            return Text("✗", style="red")
        if status == "summary":
            return Text(" ")
        return self.spinner.render(task.get_time())


class _ElapsedColumn(ProgressColumn):
    """Seconds, ticking while the part runs (`12.3 s`)."""

    def render(self, task: Task) -> Text:
        part: Part | None = task.fields.get("part")
        if part is None:
            return Text("")
        return Text(f"{part.elapsed():7.1f} s", style="dim" if part.seconds is not None else "")


SHOWN_PER_STAGE = 8
"""Finished files and steps shown under a stage; older ones fold into one `… n more` line."""


class RichRenderer:
    """A live display on `console` (rich.progress): stages, and under each its files."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            _StatusColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[counts]}", style="cyan"),
            _ElapsedColumn(),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        self._tasks: dict[int, TaskID] = {}
        self._finished: dict[str, list[tuple[TaskID, Part]]] = {}  # stage → its children
        self._folded: dict[str, TaskID] = {}  # stage → its `… n more` line
        self._running: dict[str, tuple[TaskID, Part]] = {}  # stage → its line, while it runs
        self._closed = False
        self.progress.start()

    def _describe(self, part: Part) -> str:
        if part.kind == STAGE:
            return f"[bold]{part.name}[/bold]"
        return f"  {_escape(part.name)}"

    def _counts(self, part: Part) -> str:
        text = _counts_text(part)
        if part.kind == STAGE and part.rows is None and part.seconds is None:
            read = sum(p.rows or 0 for _, p in self._finished.get(part.name, []) if p.kind == FILE)
            text = f"{read:,} rows read so far" if read else ""
        if part.kind == STAGE and part.total is not None:
            text = f"{part.done} of {part.total} done" + (f", {text}" if text else "")
        return text

    def started(self, part: Part) -> None:
        if self._closed:
            return
        task = self.progress.add_task(
            self._describe(part), total=None, status=STARTED, counts="", part=part
        )
        self._tasks[id(part)] = task
        if part.kind == STAGE:
            # the line that folds this stage's older files, kept right below the stage
            self._folded[part.name] = self.progress.add_task(
                "", total=None, visible=False, status="summary", counts="", part=None
            )
            self._finished[part.name] = []
            self._running[part.name] = (task, part)

    def updated(self, part: Part) -> None:
        task = self._tasks.get(id(part))
        if task is not None and not self._closed:
            self.progress.update(task, counts=self._counts(part))

    def advanced(self, part: Part, _item: str | None, _fields: dict[str, Any]) -> None:
        self.updated(part)

    def finished(self, part: Part) -> None:
        task = self._tasks.pop(id(part), None)
        if task is None or self._closed:
            return
        self.progress.update(task, status=part.status, counts=self._counts(part))
        if part.kind == STAGE:
            self._running.pop(part.name, None)
        elif part.stage in self._finished:
            self._fold(part.stage, task, part)
            if part.stage in self._running:
                self.updated(self._running[part.stage][1])

    def _fold(self, stage: str, task: TaskID, part: Part) -> None:
        finished = self._finished[stage]
        finished.append((task, part))
        shown = [(t, p) for t, p in finished if self.progress.tasks[t].visible]
        if len(shown) <= SHOWN_PER_STAGE:
            return
        oldest, _ = shown[0]
        self.progress.update(oldest, visible=False)
        hidden = [p for t, p in finished if not self.progress.tasks[t].visible]
        files = [p for p in hidden if p.kind == FILE]
        rows = sum(p.rows or 0 for p in files)
        what = f"{len(hidden)} earlier " + ("files" if len(files) == len(hidden) else "parts")
        what += f", {rows:,} rows read" if files else ""
        self.progress.update(self._folded[stage], description=f"  … {what}", visible=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.progress.stop()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# ------------------------------------------------------------------ the reporter


NO_PROGRESS = Reporter(NullRenderer())


class _Process:
    """The reporter of this process: plain log lines unless a command chose one."""

    default = Reporter(LogRenderer())
    current = default


def reporter() -> Reporter:
    """The reporter of this process: the command's (`shown`), or plain log lines."""
    return _Process.current


@dataclass
class Timer:
    """Wall-clock seconds per stage of a run, for the summary's `timings_seconds`."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[Part]:
        """Time the block as stage `name` of the run's progress (the part yielded takes
        the stage's rows: `part.count(rows, unit)`)."""
        with reporter().stage(name) as part:
            yield part
        self.seconds[name] = round(part.elapsed(), 3)

    def add(self, prefix: str, parts: list[dict[str, float]]) -> None:
        """Seconds measured elsewhere (each shard's `events`, `assign`, `write`), added up
        over `parts` as `<prefix>_<step>`."""
        steps = dict.fromkeys(step for part in parts for step in part)
        self.seconds.update(
            {f"{prefix}_{step}": round(sum(p[step] for p in parts), 3) for step in steps}
        )


def close(*, failed: bool = False) -> None:
    """End the command's display, if any (`failed`: before an error is printed)."""
    _Process.current.close(failed=failed)


def _choose(*, quiet: bool, as_json: bool, stream: TextIO) -> Reporter:
    if quiet:
        configure_logging(quiet=True, as_json=as_json)
        return NO_PROGRESS
    if not as_json and stream.isatty():
        console = Console(file=stream)
        if console.is_terminal and not console.is_dumb_terminal:
            configure_logging(console=console)
            return Reporter(RichRenderer(console))
    configure_logging(as_json=as_json)
    return Reporter(LogRenderer())


@contextmanager
def shown(*, quiet: bool = False, as_json: bool = False) -> Iterator[Reporter]:
    """Configure the `ecm` logger and this process's reporter for a command: rich on a
    terminal, plain lines elsewhere, JSON under --json, none under --quiet; the display
    ends with the block, and the logger is then as it was (a command run in a test's
    process leaves nothing behind)."""
    logger = logging.getLogger(LOGGER_NAME)
    before = (list(logger.handlers), logger.level, logger.propagate)
    chosen = _Process.current = _choose(quiet=quiet, as_json=as_json, stream=sys.stderr)
    try:
        yield chosen
    finally:
        chosen.close()
        _Process.current = _Process.default
        logger.handlers[:], logger.level, logger.propagate = before
