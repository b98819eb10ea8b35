"""number_base and event_number_seq: numbers without a counter row that every report locks

On PostgreSQL a number is nextval(event_number_seq) minus its day's base (bot/domain/numbering.py).
The days already counted continue where their counters stand. SQLite keeps daily_counter.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SEQUENCE = 'event_number_seq'
# as bot.domain.numbering.CONTINUE_COUNTERS, kept here as it was when this revision was written
CONTINUE_COUNTERS = (
    "INSERT INTO number_base (key, base) SELECT key, s.v - value FROM daily_counter, "
    f"(SELECT nextval('{SEQUENCE}') AS v) s ON CONFLICT (key) DO UPDATE SET base = EXCLUDED.base"
)


def upgrade() -> None:
    op.create_table(
        'number_base',
        sa.Column('key', sa.String(24), primary_key=True),
        sa.Column('base', sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'CREATE SEQUENCE {SEQUENCE}')
        op.execute(CONTINUE_COUNTERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # back to counting rows: each day's counter at the highest number it reached
        op.execute(
            "INSERT INTO daily_counter (key, value) SELECT key, "
            f"(SELECT last_value FROM {SEQUENCE}) - base FROM number_base "
            "ON CONFLICT (key) DO UPDATE SET value = GREATEST(daily_counter.value, EXCLUDED.value)")
        op.execute(f'DROP SEQUENCE {SEQUENCE}')
    op.drop_table('number_base')
