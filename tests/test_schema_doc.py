"""docs/schema.md is generated from the models and must match them."""

from __future__ import annotations

from pathlib import Path

from gridpilot import schema_doc


def test_schema_doc_matches_the_models() -> None:
    current = schema_doc.DEFAULT_PATH.read_text(encoding="utf-8")
    assert current == schema_doc.render(), (
        "docs/schema.md differs from the models; regenerate it with `python -m gridpilot.schema_doc`"
    )


def test_schema_doc_lists_every_table_with_its_keys_and_indexes() -> None:
    text = schema_doc.render()
    for table in ("devices", "schedules", "schedule_intervals", "executions", "operators", "api_keys", "prices"):
        assert f"## `{table}`" in text
    assert "erDiagram" in text
    assert "devices ||--o{ schedules" in text
    assert "foreign key `fk_schedules_device_id_devices`" in text
    assert "unique `uq_schedules_device_id_version`" in text
    assert "index `ix_schedule_intervals_schedule_id_start`" in text


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert schema_doc.main(["--out", str(stale), "--check"]) == 1
    assert schema_doc.main(["--out", str(stale)]) == 0
    assert schema_doc.main(["--out", str(stale), "--check"]) == 0
