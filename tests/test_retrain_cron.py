"""The cron parser of `[retrain] schedule` (five fields, UTC): next firing times for a table of lines,
bad lines refused naming the field, and a pipeline with a bad line refused when it is submitted, naming
`retrain.schedule`. Also: a stored pipeline written back as TOML parses to the same configuration (what
a retrain runs when the version's `pipeline.toml` is gone)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from retrain_support import pipeline

from backend.pipelines.config import parse
from backend.services.retrain import to_toml
from mlops_tui.contract.cron import next_after


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("line", "after", "expected"), [
    ("* * * * *", "2026-12-02T11:07:30", "2026-12-02T11:08:00"),
    ("* * * * *", "2026-12-02T11:07:00", "2026-12-02T11:08:00"),  # strictly after
    ("*/15 * * * *", "2026-12-02T11:07:30", "2026-12-02T11:15:00"),
    ("5,35 9-17/4 * * *", "2026-12-02T17:40:00", "2026-12-03T09:05:00"),
    ("0 3 * * 1", "2026-12-02T11:07:00", "2026-12-07T03:00:00"),  # Monday
    ("0 0 * * 7", "2026-12-02T00:00:00", "2026-12-06T00:00:00"),  # 7 is Sunday too
    ("30 2 * jan-mar sun", "2026-12-02T00:00:00", "2027-01-03T02:30:00"),
    ("0 0 29 2 *", "2026-12-02T00:00:00", "2028-02-29T00:00:00"),  # the next leap day
    ("0 0 1,15 * mon", "2026-12-02T00:00:00", "2026-12-07T00:00:00"),  # both day fields: either matches
    ("0 12 31 * *", "2026-11-01T00:00:00", "2026-12-31T12:00:00"),  # November has no 31st
    ("@daily", "2026-12-31T23:59:00", "2027-01-01T00:00:00"),
    ("@hourly", "2026-12-02T11:00:00", "2026-12-02T12:00:00"),
])
def test_next_after(line: str, after: str, expected: str) -> None:
    assert next_after(line, ms(after)) == ms(expected)


@pytest.mark.parametrize(("line", "words"), [
    ("* * * *", "5 fields"),
    ("61 * * * *", "minute field '61'"),
    ("* 24 * * *", "hour field '24'"),
    ("* * 0 * *", "day-of-month field '0'"),
    ("* * * 13 *", "month field '13'"),
    ("* * * * 8", "day-of-week field '8'"),
    ("5-1 * * * *", "runs backwards"),
    ("*/0 * * * *", "minute field '*/0'"),
    ("* * * foo *", "month field 'foo'"),
    ("0 0 30 2 *", "never fires"),
])
def test_bad_lines_are_refused_naming_the_field(line: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("*", r"\*")):
        next_after(line, 0)


def test_a_pipeline_with_a_bad_schedule_is_refused_at_submission(app_client: TestClient) -> None:
    text = pipeline("cron-check", "whatever@1", 'schedule = "0 3 * * 8"')
    answer = app_client.post("/api/v1/jobs", json={"pipeline": text, "dataset": "whatever@1"})
    assert answer.status_code == 422, answer.text
    assert "retrain.schedule" in answer.json()["detail"] and "day-of-week field '8'" in answer.json()["detail"]
    good = parse(pipeline("cron-check", "whatever@1", 'schedule = "0 3 * * 1"'))
    assert good.retrain is not None and good.retrain.schedule == "0 3 * * 1"


def test_a_stored_pipeline_written_back_as_toml_is_the_same_configuration() -> None:
    config = parse(pipeline("round-trip", "data@2", 'on_drift = ["drifting"]\nschedule = "@daily"'))
    again = parse(to_toml(config.model_dump(mode="json", by_alias=True)))
    assert again.config_hash() == config.config_hash()
