"""Export and import of a user's conversations as NDJSON: one conversation with its messages per line.

Export streams in keyset-ordered chunks from one repeatable-read snapshot, so memory stays
constant and the file is consistent however many conversations there are. Import reads the body
line by line, validates every line, and commits in chunks; it is idempotent by id: a line whose
conversation the caller already has (under its own id, or under the id an earlier import gave it)
is skipped. Ids are global, so when a file's id is taken by someone else's conversation or
message, the import stores the line under an id derived from (caller, file id) and reports it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterator

from pydantic import Field
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Conversation, Message, new_id
from schemas import wire
from schemas.core import ConversationCreate, MessageIn
from services.conversation_rows import insert_conversations
from services.errors import InvalidInput, validate_input

CHUNK = 200


class ExportedConversation(ConversationCreate):
    """One NDJSON line: a conversation as `POST /api/conversations` takes it, messages included."""

    messages: Annotated[list[MessageIn], Field(max_length=100_000)] = []


# ---------------------------------------------------------------- export

def _export_line(conv: Conversation, messages: list[Message]) -> str:
    line = {"id": conv.id, "title": conv.title, "model": conv.model, "systemPrompt": conv.system_prompt,
            "createdAt": conv.created_at, "updatedAt": conv.updated_at,
            "messages": [{k: v for k, v in wire.message(m).items() if k != "conversationId"} for m in messages]}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_lines(engine, user_id: str) -> Iterator[str]:
    with Session(engine) as s:
        if engine.dialect.name == "postgresql":
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        after: tuple[int, str] | None = None
        while True:
            stmt = (select(Conversation).where(Conversation.user_id == user_id)
                    .order_by(Conversation.created_at, Conversation.id).limit(CHUNK))
            if after is not None:
                stmt = stmt.where(tuple_(Conversation.created_at, Conversation.id) > tuple_(*after))
            convs = list(s.scalars(stmt))
            if not convs:
                return
            by_conv: dict[str, list[Message]] = {c.id: [] for c in convs}
            for m in s.scalars(select(Message).where(Message.conversation_id.in_(list(by_conv)))
                               .order_by(Message.conversation_id, Message.timestamp, Message.seq)):
                by_conv[m.conversation_id].append(m)
            yield "".join(_export_line(c, by_conv[c.id]) for c in convs)
            after = (convs[-1].created_at, convs[-1].id)
            s.expunge_all()


# ---------------------------------------------------------------- import

def derived_id(user_id: str, kind: str, source_id: str) -> str:
    """A stable id for `source_id` in this user's account when the file's own id is taken."""
    return f"imp_{hashlib.sha256(f'{user_id}:{kind}:{source_id}'.encode()).hexdigest()[:40]}"


@dataclass
class ImportReport:
    created: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, source_id: Any, errors: list[dict]) -> None:
        self.rejections.append({"line": line, "id": source_id if isinstance(source_id, str) else None,
                                "errors": errors})

    def to_wire(self) -> dict:
        return {"created": len(self.created), "skipped": len(self.skipped), "rejected": len(self.rejections),
                "createdIds": self.created, "skippedIds": self.skipped, "rejections": self.rejections}


class Importer:
    def __init__(self, s: Session, user_id: str, default_model: str) -> None:
        self.s, self.user_id, self.default_model = s, user_id, default_model
        self.report = ImportReport()
        self.seen: set[str] = set()
        self.pending: list[tuple[int, ExportedConversation]] = []

    def add(self, line_no: int, raw: str | bytes) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            return self.report.reject(line_no, None, [{"loc": [], "msg": "not valid JSON", "type": "json_invalid"}])
        try:
            item = validate_input(ExportedConversation.model_validate, data, f"line {line_no}")
        except InvalidInput as exc:
            return self.report.reject(line_no, data.get("id") if isinstance(data, dict) else None,
                                      exc.details or [{"loc": [], "msg": exc.message, "type": exc.code}])
        self.pending.append((line_no, item))
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        to_create = self._assign_conversation_ids(batch)
        if not to_create:
            return
        self._assign_message_ids([item for _, _, item in to_create])
        try:
            self._insert([item for _, _, item in to_create])
        except IntegrityError:  # a concurrent write took an id: find the lines, one by one
            self.s.rollback()
            for line_no, source, item in to_create:
                try:
                    self._insert([item])
                except IntegrityError:
                    self.s.rollback()
                    self.report.reject(line_no, source, [{"loc": ["id"], "msg": "id already exists",
                                                          "type": "conflict"}])
                else:
                    self._created(source, item)
            return
        for _, source, item in to_create:
            self._created(source, item)

    def _insert(self, items: list[ExportedConversation]) -> None:
        insert_conversations(self.s, self.user_id, items, self.default_model)
        self.s.commit()

    def _created(self, source: str, item: ExportedConversation) -> None:
        self.report.created[source] = item.id  # type: ignore[index]

    def _assign_conversation_ids(self, batch) -> list[tuple[int, str, ExportedConversation]]:
        sources = [item.id for _, item in batch if item.id]
        candidates = sources + [derived_id(self.user_id, "conv", i) for i in sources]
        owners = dict(self.s.execute(select(Conversation.id, Conversation.user_id)
                                     .where(Conversation.id.in_(candidates))).all()) if candidates else {}
        out = []
        for line_no, item in batch:
            source = item.id or new_id("conv")
            if source in self.seen:  # the same conversation twice in one file
                self.report.skipped.append(source)
                continue
            self.seen.add(source)
            alt = derived_id(self.user_id, "conv", source)
            if self.user_id in (owners.get(source), owners.get(alt)):
                self.report.skipped.append(source)
                continue
            target = source if source not in owners else alt
            if target in owners:
                self.report.reject(line_no, source, [{"loc": ["id"], "msg": "id already exists", "type": "conflict"}])
                continue
            item.id = target
            out.append((line_no, source, item))
        return out

    def _assign_message_ids(self, items: list[ExportedConversation]) -> None:
        wanted = [m.id for item in items for m in item.messages if m.id]
        taken: set[str] = set()
        for start in range(0, len(wanted), 1000):
            taken |= set(self.s.scalars(select(Message.id).where(Message.id.in_(wanted[start:start + 1000]))))
        seen: set[str] = set()
        for item in items:
            for m in item.messages:
                if m.id is None:
                    continue
                if m.id in taken or m.id in seen:
                    m.id = derived_id(self.user_id, f"msg:{item.id}", m.id)
                seen.add(m.id)
