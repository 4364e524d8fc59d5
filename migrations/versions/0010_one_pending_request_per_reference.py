"""one pending payment request per merchant reference

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 00:10:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade(engine_name):
    # A database added after this revision has nothing to do here.
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def _cancel_older_duplicates():
    """Before the index can exist: of several pending requests for one reference, keep the newest.

    The merchant knows the newest (it asked again because the earlier answer was lost), so the
    older ones are cancelled: they could only have been paid as a second payment (issue 8).
    """
    requests = sa.table('payment_requests', sa.column('id', sa.String), sa.column('merchant_id', sa.Integer),
                        sa.column('merchant_reference', sa.String), sa.column('status', sa.String),
                        sa.column('created_at', sa.DateTime), sa.column('decided_at', sa.DateTime))
    connection = op.get_bind()
    rows = connection.execute(sa.select(requests.c.id, requests.c.merchant_id, requests.c.merchant_reference)
                              .where(requests.c.status == 'pending')
                              .order_by(requests.c.created_at.desc(), requests.c.id.desc())).all()
    seen = set()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for request_id, merchant_id, reference in rows:
        if (merchant_id, reference) in seen:
            connection.execute(requests.update().where(requests.c.id == request_id)
                               .values(status='cancelled', decided_at=now))
        seen.add((merchant_id, reference))


def upgrade_bank():
    _cancel_older_duplicates()
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.create_index('uq_payment_requests_pending_reference', ['merchant_id', 'merchant_reference'],
                              unique=True, sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade_bank():
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_payment_requests_pending_reference')
