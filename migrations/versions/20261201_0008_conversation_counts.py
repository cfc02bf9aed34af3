"""conversation counts: users.conversation_count kept by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:40:00

Counting a large account's conversations on every list after a create or delete costs tens of
milliseconds; a counter read in O(1) does not. Triggers keep it, rather than the write paths,
so no path (batches, imports, cascades, manual SQL) can make it drift.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# PostgreSQL: one statement-level trigger per direction; transition tables carry the changed rows,
# so a 5,000-row batch or a COPY updates each user row once, not once per conversation.
_PG_FUNCTIONS = {
    "insert": """
        CREATE FUNCTION conversations_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE users u SET conversation_count = u.conversation_count + n.cnt
            FROM (SELECT user_id, count(*) AS cnt FROM new_rows GROUP BY user_id) n WHERE u.id = n.user_id;
            RETURN NULL;
        END $$""",
    "delete": """
        CREATE FUNCTION conversations_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE users u SET conversation_count = u.conversation_count - o.cnt
            FROM (SELECT user_id, count(*) AS cnt FROM old_rows GROUP BY user_id) o WHERE u.id = o.user_id;
            RETURN NULL;
        END $$""",
}
_PG_TRIGGERS = {
    "insert": "CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations "
              "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_count_insert()",
    "delete": "CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations "
              "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_count_delete()",
}
# SQLite has row-level triggers only.
_SQLITE_TRIGGERS = {
    "insert": "CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations BEGIN "
              "UPDATE users SET conversation_count = conversation_count + 1 WHERE id = NEW.user_id; END",
    "delete": "CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations BEGIN "
              "UPDATE users SET conversation_count = conversation_count - 1 WHERE id = OLD.user_id; END",
}


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column('users', sa.Column('conversation_count', sa.BigInteger(), server_default='0', nullable=False))
    if _is_postgresql():
        # Nobody may add or remove a conversation between the backfill and the triggers.
        op.execute("LOCK TABLE conversations IN SHARE MODE")
        for direction in ("insert", "delete"):
            op.execute(_PG_FUNCTIONS[direction])
            op.execute(_PG_TRIGGERS[direction])
    else:
        for direction in ("insert", "delete"):
            op.execute(_SQLITE_TRIGGERS[direction])
    op.execute("UPDATE users SET conversation_count = "
               "(SELECT count(*) FROM conversations c WHERE c.user_id = users.id)")


def downgrade() -> None:
    for direction in ("insert", "delete"):
        op.execute(f"DROP TRIGGER conversations_count_{direction}" + (" ON conversations" if _is_postgresql() else ""))
        if _is_postgresql():
            op.execute(f"DROP FUNCTION conversations_count_{direction}()")
    with op.batch_alter_table('users') as batch:
        batch.drop_column('conversation_count')
