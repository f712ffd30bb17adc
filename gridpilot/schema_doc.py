"""docs/schema.md, generated from the SQLAlchemy models so that it cannot drift from them.

`python -m gridpilot.schema_doc` writes docs/schema.md; `--check` exits 1 when the file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Column, ForeignKeyConstraint, Table, UniqueConstraint
from sqlalchemy.sql.schema import CheckConstraint

from gridpilot.db import Base
from gridpilot.models import import_all_models

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
REGENERATE = "python -m gridpilot.schema_doc"

_HEADER = f"""# Database schema

<!-- Generated from the SQLAlchemy models by `{REGENERATE}`; do not edit by hand.
     tests/test_schema_doc.py fails when this file differs from the models. -->

Generated from the models (`gridpilot.models.import_all_models()`, then `gridpilot.db.Base.metadata`).
The same tables exist on SQLite (embedded default) and PostgreSQL; Alembic migrations in
`gridpilot/migrations/` create them (`gridpilot migrate`). Timestamps are `UTCDateTime`: stored in UTC,
always returned timezone-aware. Constraint names follow the naming convention in `gridpilot/db.py`
(`pk_<table>`, `fk_<table>_<column>_<referred table>`, `uq_<table>_<columns>`, `ix_<column label>`).
Regenerate with `{REGENERATE}`.
"""


def _type_name(column: Column[object]) -> str:
    type_ = column.type
    name = type(type_).__name__
    if name == "UTCDateTime":
        return "UTCDateTime"
    try:
        compiled = str(type_)
    except Exception:  # noqa: BLE001 - a type without a generic SQL spelling: its class name will do
        compiled = name
    return compiled.replace("\n", " ")


def _mermaid_type(column: Column[object]) -> str:
    word = _type_name(column).split("(")[0].replace(" ", "_")
    return word or "value"


def _foreign_key_of(column: Column[object]) -> str:
    keys = sorted(f"{fk.column.table.name}.{fk.column.name}" for fk in column.foreign_keys)
    return ", ".join(keys)


def _table_section(table: Table) -> list[str]:
    lines = [f"## `{table.name}`", ""]
    comment = table.comment
    if comment:
        lines += [comment, ""]
    lines += ["| column | type | null | key | default |", "|---|---|---|---|---|"]
    for column in table.columns:
        keys = []
        if column.primary_key:
            keys.append("PK")
        references = _foreign_key_of(column)
        if references:
            keys.append(f"FK → `{references}`")
        default = ""
        if column.server_default is not None:
            arg = getattr(column.server_default, "arg", None)
            default = f"server: `{getattr(arg, 'text', arg)}`"
        elif column.default is not None and getattr(column.default, "is_scalar", False):
            default = f"`{getattr(column.default, 'arg', None)!r}`"
        lines.append(
            f"| `{column.name}` | {_type_name(column)} | {'yes' if column.nullable else 'no'} | "
            f"{' '.join(keys)} | {default} |"
        )
    lines.append("")
    details: list[str] = []
    primary = [c.name for c in table.primary_key.columns]
    details.append(f"- primary key `{table.primary_key.name}`: ({', '.join(primary)})")
    constraints = sorted(table.constraints, key=lambda c: str(c.name))
    for constraint in constraints:
        if isinstance(constraint, UniqueConstraint):
            cols = ", ".join(c.name for c in constraint.columns)
            details.append(f"- unique `{constraint.name}`: ({cols})")
    for constraint in constraints:
        if isinstance(constraint, ForeignKeyConstraint):
            cols = ", ".join(c.name for c in constraint.columns)
            target = constraint.referred_table.name
            ref_cols = ", ".join(e.column.name for e in constraint.elements)
            on_delete = f", on delete {constraint.ondelete}" if constraint.ondelete else ""
            details.append(f"- foreign key `{constraint.name}`: ({cols}) → `{target}` ({ref_cols}){on_delete}")
    for constraint in constraints:
        if isinstance(constraint, CheckConstraint):
            details.append(f"- check `{constraint.name}`: `{constraint.sqltext}`")
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        cols = ", ".join(c.name for c in index.columns) or ", ".join(str(e) for e in index.expressions)
        kind = "unique index" if index.unique else "index"
        details.append(f"- {kind} `{index.name}`: ({cols})")
    return lines + details + [""]


def _er_diagram(tables: list[Table]) -> list[str]:
    lines = ["```mermaid", "erDiagram"]
    for table in tables:
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            marks = []
            if column.primary_key:
                marks.append("PK")
            if column.foreign_keys:
                marks.append("FK")
            suffix = f" {','.join(marks)}" if marks else ""
            lines.append(f"        {_mermaid_type(column)} {column.name}{suffix}")
        lines.append("    }")
    relations: set[tuple[str, str, str]] = set()
    for table in tables:
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                label = "_".join(c.name for c in constraint.columns)
                relations.add((constraint.referred_table.name, table.name, label))
    for parent, child, label in sorted(relations):
        lines.append(f'    {parent} ||--o{{ {child} : "{label}"')
    lines.append("```")
    return lines


def render() -> str:
    """The Markdown of docs/schema.md for the models as they are now."""
    import_all_models()
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    lines = [_HEADER, "## Relations", ""]
    lines += _er_diagram(tables)
    lines += ["", "## Tables", ""]
    lines += [f"- [`{t.name}`](#{t.name}) — {len(t.columns)} columns" for t in tables]
    lines.append("")
    for table in tables:
        lines += _table_section(table)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/schema.md, or with --check report whether it is current."""
    parser = argparse.ArgumentParser(prog="python -m gridpilot.schema_doc", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="where to write (default docs/schema.md)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the models")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
