"""phone_reveal: the audit of 查看完整号码 (who revealed which masked contact, when)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""
import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'phone_reveal',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('target_kind', sa.String(8), nullable=False),
        sa.Column('target_number', sa.String(20), nullable=False),
        sa.Column('field', sa.String(16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_phone_reveal_user_id', 'phone_reveal', ['user_id'])
    op.create_index('ix_phone_reveal_target_number', 'phone_reveal', ['target_number'])
    op.create_index('ix_phone_reveal_at', 'phone_reveal', ['at'])


def downgrade() -> None:
    op.drop_table('phone_reveal')
