"""Foundation: schools, pupils, enrolments, register strips, school days, concerns, class
wellbeing and import batches.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "pupils",
        sa.Column("pupil_id", sa.String(64), primary_key=True),
        sa.Column("birth_date", sa.Date),
        sa.Column("gender", sa.String(1)),
    )
    op.create_table(
        "enrolments",
        sa.Column("pupil_id", sa.String(64), sa.ForeignKey("pupils.pupil_id"), primary_key=True),
        sa.Column("school_year", sa.String(7), primary_key=True),
        sa.Column("school_id", sa.String(64), sa.ForeignKey("schools.school_id"), nullable=False),
        sa.Column("grade", sa.SmallInteger, nullable=False),
        sa.Column("class_id", sa.String(64)),
        sa.Column("special_needs", sa.Boolean),
    )
    op.create_index("ix_enrolments_school_id", "enrolments", ["school_id"])
    op.create_table(
        "register",
        sa.Column("pupil_id", sa.String(64), sa.ForeignKey("pupils.pupil_id"), primary_key=True),
        sa.Column("school_year", sa.String(7), primary_key=True),
        sa.Column("status", sa.LargeBinary, nullable=False),
        sa.Column("absent", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "school_days",
        sa.Column("school_id", sa.String(64), sa.ForeignKey("schools.school_id"), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
    )
    op.create_table(
        "concerns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pupil_id", sa.String(64), sa.ForeignKey("pupils.pupil_id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("severity", sa.SmallInteger),
        sa.UniqueConstraint("pupil_id", "date", "source", "category", name="uq_concern"),
    )
    op.create_index("ix_concerns_pupil_id", "concerns", ["pupil_id"])
    op.create_table(
        "class_wellbeing",
        sa.Column("class_id", sa.String(64), primary_key=True),
        sa.Column("school_year", sa.String(7), primary_key=True),
        sa.Column("social", sa.Float),
        sa.Column("academic", sa.Float),
        sa.Column("calm_order", sa.Float),
        sa.Column("support", sa.Float),
    )
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("import_batches", "class_wellbeing", "concerns", "school_days", "register",
                  "enrolments", "pupils", "schools"):
        op.drop_table(table)
