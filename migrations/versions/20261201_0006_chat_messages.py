"""chat: room members, room and private messages, per-recipient deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:40:40.735708
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
_MESSAGE_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'chat_messages',
        sa.Column('id', _MESSAGE_ID, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('room_id', sa.String(length=64), nullable=True),
        sa.Column('sender_id', sa.String(length=64), nullable=False),
        sa.Column('recipient_id', sa.String(length=64), nullable=True),
        sa.Column('client_message_id', sa.String(length=64), nullable=True),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_chat_messages_recipient_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_chat_messages_sender_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
    )
    op.create_index('ix_chat_messages_recipient_id', 'chat_messages', ['recipient_id'])
    op.create_index('ix_chat_messages_room_id_id', 'chat_messages', ['room_id', 'id'])
    op.create_index('ix_chat_messages_sender_id_client_message_id', 'chat_messages',
                    ['sender_id', 'client_message_id'], unique=True)

    op.create_table(
        'room_members',
        sa.Column('room_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('joined_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_room_members_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('room_id', 'user_id', name=op.f('pk_room_members')),
    )
    op.create_index('ix_room_members_user_id', 'room_members', ['user_id'])

    op.create_table(
        'deliveries',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('message_id', _MESSAGE_ID, nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.BigInteger(), nullable=False),
        sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.Column('acked_at', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['chat_messages.id'],
                                name=op.f('fk_deliveries_message_id_chat_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deliveries_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    )
    op.create_index('ix_deliveries_message_id', 'deliveries', ['message_id'])
    op.create_index('ix_deliveries_state_next_attempt_at', 'deliveries', ['state', 'next_attempt_at'])
    op.create_index('ix_deliveries_user_id_message_id', 'deliveries', ['user_id', 'message_id'], unique=True)


def downgrade() -> None:
    op.drop_table('deliveries')
    op.drop_table('room_members')
    op.drop_table('chat_messages')
