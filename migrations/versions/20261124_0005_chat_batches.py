"""chat batches: jobs.parent_id

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-24 09:07:36.894863
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:  # SQLite cannot add a foreign key in place
        batch.add_column(sa.Column('parent_id', sa.String(length=64), nullable=True))
        batch.create_index(batch.f('ix_jobs_parent_id'), ['parent_id'], unique=False)
        batch.create_foreign_key(batch.f('fk_jobs_parent_id_jobs'), 'jobs', ['parent_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_constraint(batch.f('fk_jobs_parent_id_jobs'), type_='foreignkey')
        batch.drop_index(batch.f('ix_jobs_parent_id'))
        batch.drop_column('parent_id')
