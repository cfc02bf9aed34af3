"""SQLAlchemy 2 typed models; importing this package registers every table on `Base.metadata`."""
from models.base import Base, new_id, now_ms
from models.chat import ChatMessage, Delivery, RoomMember
from models.conversation import Conversation, Message
from models.job import TERMINAL_STATUSES, Job
from models.openai_compat import ApiKey, StoredFile, StoredResponse
from models.provider_key import ProviderKey
from models.user import User
from models.webhook import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey", "Base", "ChatMessage", "Conversation", "Delivery", "Job", "Message", "ProviderKey", "RoomMember",
    "StoredFile", "StoredResponse", "TERMINAL_STATUSES", "User", "WebhookDelivery", "WebhookEndpoint", "new_id",
    "now_ms",
]
