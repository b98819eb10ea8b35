"""duplicate check: event (grid_id, category, id)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00

Every report looks for an open event of the same grid and category, newest first (bot/events.py
find_duplicate). With only ix_event_grid_id the database visits every event the grid ever had;
this index walks the grid's events of that category from the newest and stops after a few.
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_event_duplicate', 'event', ['grid_id', 'category', 'id'])


def downgrade() -> None:
    op.drop_index('ix_event_duplicate', table_name='event')
