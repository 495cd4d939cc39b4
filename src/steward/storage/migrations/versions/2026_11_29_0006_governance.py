"""Governance: live policies and their version history, compliance groups and their workspaces, per-organization
data keys (wrapped), and encrypted stored content.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compliance_groups',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.Column('restrictions', _JSON, nullable=False),
    sa.Column('legal_hold', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('compliance_groups', schema=None) as batch_op:
        batch_op.create_index('uq_compliance_groups_name', ['org_id', 'name'], unique=True)

    op.create_table('org_data_keys',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('master_key_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('org_data_keys', schema=None) as batch_op:
        batch_op.create_index('ix_org_data_keys_org', ['org_id'], unique=False)

    op.create_table('policies',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=64), nullable=False),
    sa.Column('document', _JSON, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.create_index('uq_policies_scope', ['org_id', 'scope', 'scope_id'], unique=True)

    op.create_table('policy_versions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=64), nullable=False),
    sa.Column('document', _JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.create_index('uq_policy_versions_org', ['org_id', 'version'], unique=True)

    op.create_table('stored_content',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data_key_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('purge_after', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stored_content', schema=None) as batch_op:
        batch_op.create_index('ix_stored_content_org_time', ['org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_stored_content_purge', ['purge_after'], unique=False)
        batch_op.create_index('ix_stored_content_request', ['request_id'], unique=False)

    op.create_table('compliance_group_workspaces',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['compliance_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'workspace_id')
    )


def downgrade() -> None:
    op.drop_table('compliance_group_workspaces')
    with op.batch_alter_table('stored_content', schema=None) as batch_op:
        batch_op.drop_index('ix_stored_content_request')
        batch_op.drop_index('ix_stored_content_purge')
        batch_op.drop_index('ix_stored_content_org_time')

    op.drop_table('stored_content')
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_policy_versions_org')

    op.drop_table('policy_versions')
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_index('uq_policies_scope')

    op.drop_table('policies')
    with op.batch_alter_table('org_data_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_org_data_keys_org')

    op.drop_table('org_data_keys')
    with op.batch_alter_table('compliance_groups', schema=None) as batch_op:
        batch_op.drop_index('uq_compliance_groups_name')

    op.drop_table('compliance_groups')
