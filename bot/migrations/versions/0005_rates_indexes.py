"""three rates: rating.value wide enough for 'unsatisfied', indexes for the monthly aggregation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 'satisfied' and 'unsatisfied' are longer than the 8 characters 0002 gave the column
    # (SQLite never noticed; PostgreSQL refuses the rating).
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=8), type_=sa.String(length=12),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=12), type_=sa.String(length=8),
                              existing_nullable=False)
