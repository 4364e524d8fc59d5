"""registered webhook endpoints, push-service allow-list bookkeeping

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 00:20:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade(engine_name):
    # A database added after this revision has nothing to do here.
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def upgrade_bank():
    op.create_table('merchant_webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                            name=op.f('fk_merchant_webhook_endpoints_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_webhook_endpoints')),
    sa.UniqueConstraint('merchant_id', 'url', name=op.f('uq_merchant_webhook_endpoints_merchant_id'))
    )
    with op.batch_alter_table('merchant_webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_webhook_endpoints_merchant_id'), ['merchant_id'], unique=False)
    # Each merchant's callback URL becomes its first registered endpoint: payments keep working.
    op.execute("INSERT INTO merchant_webhook_endpoints (merchant_id, url, created_at) "
               "SELECT id, callback_url, created_at FROM merchants")

    with op.batch_alter_table('push_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
    # Before leases, a restart reset every 'sending' message to 'queued'; one caught mid-send now
    # gets an expired lease instead, so the new worker claims it like any other.
    op.execute("UPDATE push_messages SET claimed_until = created_at WHERE state = 'sending'")

    # Answers from outside were stored with up to 200 characters of their body (shown in the bank
    # app's diagnostics and the merchant portal): keep the status code only.
    for table in ('push_attempts', 'webhook_attempts'):
        op.execute(f"UPDATE {table} SET error = 'HTTP ' || CAST(status_code AS VARCHAR(3)) "
                   "WHERE status_code IS NOT NULL AND error IS NOT NULL")


def downgrade_bank():
    with op.batch_alter_table('push_messages', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')

    with op.batch_alter_table('merchant_webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_webhook_endpoints_merchant_id'))

    op.drop_table('merchant_webhook_endpoints')
