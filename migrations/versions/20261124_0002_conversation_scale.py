"""conversation scale: sort indexes, trigram search, job progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 08:38:54.770397
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TRIGRAM = (("ix_conversations_title_trgm", "conversations", "title"),
            ("ix_messages_content_trgm", "messages", "content"))


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index(op.f('ix_conversations_user_id'), table_name='conversations')
    op.drop_index(op.f('ix_conversations_user_id_updated_at'), table_name='conversations')
    op.create_index('ix_conversations_user_id_created_at_id', 'conversations', ['user_id', 'created_at', 'id'])
    op.create_index('ix_conversations_user_id_title_id', 'conversations', ['user_id', 'title', 'id'])
    op.create_index('ix_conversations_user_id_updated_at_id', 'conversations', ['user_id', 'updated_at', 'id'])
    op.add_column('jobs', sa.Column('progress', sa.JSON(), nullable=True))
    if _is_postgresql():
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in _TRIGRAM:
            op.create_index(name, table, [column], postgresql_using='gin', postgresql_ops={column: 'gin_trgm_ops'})


def downgrade() -> None:
    if _is_postgresql():
        for name, table, _column in _TRIGRAM:
            op.drop_index(name, table_name=table)
    op.drop_column('jobs', 'progress')
    op.drop_index('ix_conversations_user_id_updated_at_id', table_name='conversations')
    op.drop_index('ix_conversations_user_id_title_id', table_name='conversations')
    op.drop_index('ix_conversations_user_id_created_at_id', table_name='conversations')
    op.create_index(op.f('ix_conversations_user_id_updated_at'), 'conversations', ['user_id', 'updated_at'])
    op.create_index(op.f('ix_conversations_user_id'), 'conversations', ['user_id'])
