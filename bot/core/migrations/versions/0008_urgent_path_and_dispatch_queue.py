"""urgent path and dispatcher queue: duty roster, who was alerted, alarm acknowledgements, queue

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00

Urgent reports reach people whether or not the place is known (duty_entry: the roster of a
community or street), everyone alerted may 接单 (event_alert), the admin page's alarm is
acknowledged once (urgent_ack); complaints, 转人工 and repeated 催办 go to dispatch_request.
"""
import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'duty_entry',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id'), nullable=False),
        sa.Column('worker_id', sa.Integer(), sa.ForeignKey('worker.id'), nullable=True),
        sa.Column('openid', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('grid_id', 'openid', name='uq_duty_entry_grid_openid'),
    )
    op.create_index('ix_duty_entry_grid_id', 'duty_entry', ['grid_id'])
    op.create_table(
        'event_alert',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id'), nullable=False),
        sa.Column('worker_id', sa.Integer(), sa.ForeignKey('worker.id'), nullable=True),
        sa.Column('openid', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('event_id', 'openid', name='uq_event_alert_event_openid'),
    )
    op.create_index('ix_event_alert_event_id', 'event_alert', ['event_id'])
    op.create_index('ix_event_alert_worker_id', 'event_alert', ['worker_id'])
    op.create_table(
        'urgent_ack',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id'), nullable=False, unique=True),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'dispatch_request',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('resident_id', sa.Integer(), sa.ForeignKey('resident.id'), nullable=False),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id'), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('answered_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_dispatch_request_resident_id', 'dispatch_request', ['resident_id'])
    op.create_index('ix_dispatch_request_status', 'dispatch_request', ['status', 'id'])


def downgrade() -> None:
    op.drop_table('dispatch_request')
    op.drop_table('urgent_ack')
    op.drop_table('event_alert')
    op.drop_table('duty_entry')
