"""``steward compliance``: groups (create, list, get, update, join, leave, delete), legal hold and purge, run
in-process on SQLite and PostgreSQL through the same services as the Admin API."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_policy_as_code import Cli


def test_compliance_commands(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path / "home", database_url)
    cli("init", "--name", "Acme", "--admin-email", "admin@acme.example")
    cli("workspaces", "create", "clinical")
    made = json.loads(cli("compliance", "groups", "create", "HIPAA", "--retention-days", "90", "--require-encryption",
                          "--regions", "us", "--audit-level", "full", "--json"))
    assert made["restrictions"] == {"data_retention_days": 90, "require_encryption": True,
                                    "allowed_regions": ["us"], "audit_level": "full"}
    assert "Workspace clinical is in compliance group HIPAA." in cli("compliance", "groups", "add-workspace",
                                                                      "HIPAA", "clinical")
    assert "HIPAA" in cli("compliance", "groups", "list")
    updated = json.loads(cli("compliance", "groups", "update", "HIPAA", "--retention-days", "30", "--json"))
    assert updated["restrictions"]["data_retention_days"] == 30 and len(updated["workspace_ids"]) == 1
    assert "is under legal hold" in cli("compliance", "legal-hold", "HIPAA", "--reason", "case 17")
    assert json.loads(cli("compliance", "groups", "get", "HIPAA", "--json"))["legal_hold"] is True
    assert "released from legal hold" in cli("compliance", "legal-hold", "HIPAA", "--release")
    assert "Would delete 0 stored content records; 0 kept by a legal hold." in cli("compliance", "purge",
                                                                                   "--dry-run")
    assert json.loads(cli("compliance", "purge", "--json"))["deleted"] == 0
    cli("compliance", "groups", "remove-workspace", "HIPAA", "clinical")
    cli("compliance", "groups", "delete", "HIPAA")
    assert "HIPAA" not in cli("compliance", "groups", "list")
    bad = cli("compliance", "groups", "create", "X", "--audit-level", "everything", code=1)
    assert 'restrictions.audit_level: "metadata" or "full"' in bad
    assert len(cli("compliance", "master-key").strip()) == 44
