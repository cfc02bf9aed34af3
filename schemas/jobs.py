"""Request and response models of chat submission, jobs and models."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.core import ConversationDetailOut, ModelName, PageMeta, ResourceId, Role, WireModel

ProviderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: Annotated[str, StringConstraints(max_length=100_000)]


class ChatRequest(WireModel):
    messages: Annotated[list[ChatMessageIn], Field(min_length=1, max_length=500)]
    model: Optional[ModelName] = None
    provider: Optional[ProviderName] = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    max_tokens: Annotated[int, Field(ge=1, le=32_768)] = 2048
    conversation_id: Optional[ResourceId] = None


class ChatAiQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider: Optional[ProviderName] = None


class JobLinks(BaseModel):
    self: str
    events: str
    stream: str
    cancel: str


class JobError(BaseModel):
    code: str
    message: str
    provider: Optional[str] = None
    status: Optional[int] = None


class JobUsage(BaseModel):
    input_tokens: int
    output_tokens: int


class JobResult(BaseModel):
    content: str
    usage: Optional[JobUsage]
    model: str
    provider: str


class JobProgress(BaseModel):
    done: int
    total: int
    deleted: Optional[int] = None


class RequestCounts(BaseModel):
    """Requests of a chat batch by outcome (OpenAI's `request_counts`, plus the cancelled ones)."""

    total: int
    completed: int
    failed: int
    cancelled: int


class ChatBatchResult(BaseModel):
    request_counts: RequestCounts


class BatchJobResult(BaseModel):
    """The result of a conversation batch job: the same body the synchronous call answers."""

    success: bool
    count: Optional[int] = None
    conversations: Optional[list[ConversationDetailOut]] = None
    deleted_count: Optional[int] = None


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    attempts: int
    provider: Optional[str]
    model: Optional[str]
    conversationId: Optional[str]
    createdAt: int
    updatedAt: int
    startedAt: Optional[int]
    finishedAt: Optional[int]
    progress: Optional[Union[JobProgress, RequestCounts]]
    result: Optional[Union[JobResult, BatchJobResult, ChatBatchResult]]
    error: Optional[JobError]
    links: JobLinks


class JobPage(PageMeta):
    jobs: list[JobOut]


class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20
    status: Optional[Literal["queued", "running", "succeeded", "failed", "cancelled"]] = None
    kind: Optional[Annotated[str, StringConstraints(max_length=32)]] = None
    conversation_id: Optional[ResourceId] = None


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    after: Annotated[int, Field(ge=0, description="The last `seq` the client saw.")] = 0
    epoch: Optional[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]] = Field(
        None, description="The `epoch` of the client's last event: if the job's event log was reset since "
        "(Redis lost it), the stream starts with a `reset` event and replays the new log from its start.")


class ChatAiOut(BaseModel):
    content: str
    tokens: Optional[int]
    model: str
    provider: str
    jobId: str


class ModelCatalogEntry(BaseModel):
    provider: str
    models: list[str]
    default: bool


class ModelsOut(BaseModel):
    providers: list[ModelCatalogEntry]


