"""Request and response models shared by the blueprints (camelCase on the wire, SPEC §2)."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic.alias_generators import to_camel

ResourceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
SystemPrompt = Annotated[str, StringConstraints(max_length=20_000)]
EpochMs = Annotated[int, Field(ge=0, le=32_503_680_000_000)]  # up to year 3000
Role = Literal["user", "assistant", "system"]


class WireModel(BaseModel):
    """Accepts camelCase (and snake_case) input, ignores unknown fields the seed front end sends."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class StrictWireModel(WireModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# ------------------------------------------------------------------ auth

class RegisterIn(StrictWireModel):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{3,50}$")]
    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LoginIn(StrictWireModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=254)] = Field(
        description="Username or email address."
    )
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LogoutIn(StrictWireModel):
    refresh_token: Optional[str] = Field(None, alias="refresh_token", description="Also revoke this refresh token.")


class UserOut(BaseModel):
    id: str
    username: str
    email: str
    createdAt: int
    updatedAt: int


class AuthOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    user: UserOut


class RefreshOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]


class OkOut(BaseModel):
    success: bool


# ------------------------------------------------------------------ conversations

class MessageIn(WireModel):
    id: Optional[ResourceId] = None
    role: Role
    content: Annotated[str, StringConstraints(max_length=100_000)]
    model: Optional[ModelName] = None
    tokens: Optional[Annotated[int, Field(ge=0, le=10_000_000)]] = None
    timestamp: Optional[EpochMs] = None


class ConversationCreate(WireModel):
    id: Optional[ResourceId] = None
    title: Title = "New conversation"
    model: Optional[ModelName] = None
    system_prompt: Optional[SystemPrompt] = None
    messages: Annotated[list[MessageIn], Field(max_length=1000)] = []
    created_at: Optional[EpochMs] = None
    updated_at: Optional[EpochMs] = None


class ConversationPatch(StrictWireModel):
    title: Optional[Title] = None
    model: Optional[ModelName] = None
    system_prompt: Optional[SystemPrompt] = None


class MessageOut(BaseModel):
    id: str
    conversationId: str
    role: Role
    content: str
    model: Optional[str]
    tokens: Optional[int]
    timestamp: int


class ConversationOut(BaseModel):
    id: str
    userId: str
    title: str
    model: str
    systemPrompt: Optional[str]
    createdAt: int
    updatedAt: int


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


class PageMeta(BaseModel):
    page: int
    page_size: int
    total: int
    total_pages: int


class ConversationSummaryOut(ConversationOut):
    messageCount: int
    lastMessage: Optional[MessageOut]


class ConversationPage(PageMeta):
    page: Optional[int] = Field(description="Page number; null when the page was asked for by cursor.")
    conversations: list[ConversationSummaryOut]
    next_cursor: Optional[str] = Field(description="Pass as `after` for the next page; null on the last page.")


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20
    sort_by: Literal["createdAt", "updatedAt", "title"] = "updatedAt"
    sort_order: Literal["asc", "desc"] = "desc"
    after: Optional[Annotated[str, StringConstraints(min_length=1, max_length=1024)]] = Field(
        None, description="Cursor from `next_cursor`: the page after it, without an OFFSET scan (`page` is ignored)."
    )


class BatchCreateOut(BaseModel):
    success: bool
    count: int
    conversations: list[ConversationDetailOut]


class BatchIds(StrictWireModel):
    ids: Annotated[list[ResourceId], Field(min_length=1)]


class BatchDeleteOut(BaseModel):
    success: bool
    deleted_count: int


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="Case-insensitive substring of a title or a message; searched literally."
    )
    model: Optional[ModelName] = None
    date_from: Optional[EpochMs] = Field(None, description="Conversations created at or after (epoch ms).")
    date_to: Optional[EpochMs] = Field(None, description="Conversations created at or before (epoch ms).")
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20


class SearchResult(BaseModel):
    conversation: ConversationOut
    match_type: Literal["title", "message"]
    matched_message: Optional[MessageOut] = None


class SearchOut(PageMeta):
    query: str
    count: int = Field(description="Matching conversations in all pages (the seed's count).")
    results: list[SearchResult]


class TokenStats(BaseModel):
    total: int
    byModel: dict[str, int]


class StatsOut(BaseModel):
    conversations: int
    messages: int
    messagesByRole: dict[str, int]
    tokens: TokenStats


class ImportRejection(BaseModel):
    line: int
    id: Optional[str]
    errors: list[dict]


class ImportOut(BaseModel):
    created: int
    skipped: int
    rejected: int
    createdIds: dict[str, str] = Field(description="Id in the file → id given here (they differ only when the "
                                       "file's id is taken).")
    skippedIds: list[str]
    rejections: list[ImportRejection]


class MessagesOut(BaseModel):
    conversationId: str
    messages: list[MessageOut]


# ------------------------------------------------------------------ health

class HealthOut(BaseModel):
    status: Literal["ok"]
    checks: Optional[dict[str, str]] = None
