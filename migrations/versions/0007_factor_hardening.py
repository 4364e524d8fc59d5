"""factor hardening (PIN lockout, device secrets, session revocation, carts)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 00:20:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade(engine_name):
    # A database added after this revision has nothing to do here.
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def upgrade_bank():
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_at', sa.DateTime(), nullable=True))


def downgrade_bank():
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_column('locked_at')
