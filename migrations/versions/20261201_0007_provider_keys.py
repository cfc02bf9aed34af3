"""provider keys: users' own vendor keys, encrypted

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provider_keys',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('last4', sa.String(length=4), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_provider_keys_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_keys')),
        sa.UniqueConstraint('user_id', 'provider', name=op.f('uq_provider_keys_user_id_provider')),
    )
    op.create_index(op.f('ix_provider_keys_user_id'), 'provider_keys', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_provider_keys_user_id'), table_name='provider_keys')
    op.drop_table('provider_keys')
