"""instructor view: who opened the walkthrough, and each phone's last push receipt

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 16:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def upgrade_():
    op.create_table('walkthrough_openings',
    sa.Column('owner', sa.String(length=60), nullable=False),
    sa.Column('first_opened_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('owner', name=op.f('pk_walkthrough_openings'))
    )


def downgrade_():
    op.drop_table('walkthrough_openings')


def upgrade_bank():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_receipt_at', sa.DateTime(), nullable=True))


def downgrade_bank():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('last_receipt_at')
