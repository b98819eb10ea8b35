"""the three-rate indexes on SQLite too, so every database matches the models

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:30:00

0005 created ix_event_rates and ix_rating_event_value on PostgreSQL only, as covering indexes
(INCLUDE). The models now declare them (with postgresql_include), so that an autogenerate against
a migrated database proposes nothing on either database; SQLite has no INCLUDE and gets the same
indexes on their key columns.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.create_index('ix_event_rates', 'event', ['created_at'])
        op.create_index('ix_rating_event_value', 'rating', ['event_id'])


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.drop_index('ix_rating_event_value', table_name='rating')
        op.drop_index('ix_event_rates', table_name='event')
