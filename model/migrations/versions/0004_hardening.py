"""Hardening (issue 13): server-side sessions of the team pages and an optional token expiry.

- `page_sessions`: the pages' cookie holds a random session id; this table keeps its SHA-256,
  the token it stands for, when it was opened and last seen (idle and absolute limits).
- `tokens.expires_at`: an API token may expire (`ews token create --expires-in 90d`).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_page_sessions_token_id", "page_sessions", ["token_id"])
    op.add_column("tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_index("ix_page_sessions_token_id", table_name="page_sessions")
    op.drop_table("page_sessions")
