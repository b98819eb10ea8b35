"""inbox_message: messages stored first and handled in the background (overload, slow handling)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:00:00
"""
import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_message',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('key', sa.String(160), nullable=False, unique=True),
        sa.Column('openid', sa.String(64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('number', sa.String(20), nullable=True),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('done_at', UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_inbox_due', 'inbox_message', ['status', 'id'])


def downgrade() -> None:
    op.drop_table('inbox_message')
