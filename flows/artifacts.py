"""The run summary on the flow run, as Prefect artifacts (outputs.md, "Prefect artifacts"):
counts only, never member data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecm.deliver import report_page
from ecm.run.logs import get_logger

log = get_logger("flow")

SUMMARY_ARTIFACT = "ecm-run-summary"
POPULATIONS_ARTIFACT = "ecm-populations"


def publish_artifacts(summary: dict[str, Any], report: Path) -> None:
    """A markdown artifact (the counts per population and the report's path) and a table
    of the counts per population. The run's files are already in place: failing to
    publish the artifacts is a warning, not a failed run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    where = str(report.resolve())
    try:
        create_markdown_artifact(
            key=SUMMARY_ARTIFACT,
            markdown=report_page.summary_markdown(summary, where),
            description=f"ECM run as of {summary['as_of_date']}: counts; report {where}",
        )
        create_table_artifact(
            key=POPULATIONS_ARTIFACT,
            table=report_page.population_table(summary),
            description=f"Members per population as of {summary['as_of_date']}; report {where}",
        )
    except Exception as exc:  # the run has succeeded; the artifacts are a convenience
        log.warning("could not publish the run's Prefect artifacts: %s", type(exc).__name__)
