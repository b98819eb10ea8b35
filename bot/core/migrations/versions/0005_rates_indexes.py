"""three rates: rating.value wide enough for 'unsatisfied', covering indexes for the monthly aggregation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:30:00

On PostgreSQL the monthly three-rate aggregation (bot/rates.py) reads one month of events and
their ratings out of a table of a million or more. Two covering indexes let it do index-only
scans instead of visiting the wide event rows and the whole rating table:

- ix_event_rates: event (created_at) INCLUDE the columns the rates read;
- ix_rating_event_value: rating (event_id) INCLUDE (value): the ratings of an id range.

SQLite has no INCLUDE and small tables: it keeps the existing ix_event_created_at.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

EVENT_RATE_COLUMNS = ['id', 'status', 'grid_id', 'worker_id', 'respond_due_at', 'accepted_at', 'resolve_due_at',
                      'completed_at', 'overdue', 'overdue_count']


def upgrade() -> None:
    # 'satisfied' and 'unsatisfied' are longer than the 8 characters 0002 gave the column
    # (SQLite never noticed; PostgreSQL refuses the rating).
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=8), type_=sa.String(length=12),
                              existing_nullable=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_event_rates', 'event', ['created_at'], postgresql_include=EVENT_RATE_COLUMNS)
        op.create_index('ix_rating_event_value', 'rating', ['event_id'], postgresql_include=['value'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_rating_event_value', table_name='rating')
        op.drop_index('ix_event_rates', table_name='event')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=12), type_=sa.String(length=8),
                              existing_nullable=False)
