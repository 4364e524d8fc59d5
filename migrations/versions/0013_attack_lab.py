"""attack lab: the webhooks its wiretap captured

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 00:40:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def upgrade_():
    op.create_table('lab_captured_webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=60), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('captured_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_captured_webhooks'))
    )
    with op.batch_alter_table('lab_captured_webhooks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_captured_webhooks_journey_id'), ['journey_id'], unique=False)


def downgrade_():
    with op.batch_alter_table('lab_captured_webhooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_captured_webhooks_journey_id'))
    op.drop_table('lab_captured_webhooks')
