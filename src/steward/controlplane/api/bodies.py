"""Request bodies shared by both Admin API path families (pydantic at the trust boundary, unknown fields refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleBody(Body):
    role: str


class KeyUpdateBody(Body):
    name: str | None = None
    status: str | None = None


class LimitValue(Body):
    type: str
    value: int | None


class LimitsBody(Body):
    limits: list[LimitValue]
