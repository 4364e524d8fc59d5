"""OIDC token revocation on code replay, merchant webhook secrets encrypted at rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 00:20:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from app.common.secretbox import decrypt, encrypt


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade(engine_name):
    # A database added after this revision has nothing to do here.
    globals().get("upgrade_%s" % engine_name, lambda: None)()


def downgrade(engine_name):
    globals().get("downgrade_%s" % engine_name, lambda: None)()


def _merchants(*columns):
    return sa.table('merchants', sa.column('id', sa.Integer), *(sa.column(name, sa.String) for name in columns))


def _rewrite_secrets(source, target, convert):
    """Copy every merchant's webhook secret from column `source` to `target` through `convert`."""
    merchants = _merchants(source, target)
    connection = op.get_bind()
    rows = connection.execute(sa.select(merchants.c.id, merchants.c[source])).all()
    for merchant_id, value in rows:
        connection.execute(merchants.update().where(merchants.c.id == merchant_id)
                           .values({target: convert(value)}))


def upgrade_bank():
    # Merchant webhook secrets, so far in clear, are encrypted under BANK_SECRETS_KEY (from the
    # environment, or instance/bank-secrets.key: the app's configuration has already read it).
    key = current_app.config["BANK_SECRETS_KEY"]
    if op.get_bind().dialect.name == "sqlite":
        # Zero what is deleted, so the clear text does not linger in the file's free pages.
        op.execute("PRAGMA secure_delete = ON")
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret_encrypted', sa.String(length=255), nullable=True))
    _rewrite_secrets('webhook_secret', 'webhook_secret_encrypted', lambda secret: encrypt(secret, key))
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.alter_column('webhook_secret_encrypted', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('webhook_secret')


def downgrade_bank():
    key = current_app.config["BANK_SECRETS_KEY"]
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=80), nullable=True))
    _rewrite_secrets('webhook_secret_encrypted', 'webhook_secret', lambda token: decrypt(token, key))
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.alter_column('webhook_secret', existing_type=sa.String(length=80), nullable=False)
        batch_op.drop_column('webhook_secret_encrypted')


def upgrade_idp():
    # A used code is kept (marked) so a replay is recognised; each token remembers its code.
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redeemed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('replayed_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorization_code_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tokens_authorization_code_id'), ['authorization_code_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tokens_authorization_code_id_authorization_codes'),
                                    'authorization_codes', ['authorization_code_id'], ['id'], ondelete='SET NULL')


def downgrade_idp():
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tokens_authorization_code_id_authorization_codes'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tokens_authorization_code_id'))
        batch_op.drop_column('authorization_code_id')

    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('replayed_at')
        batch_op.drop_column('redeemed_at')
