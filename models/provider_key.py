"""A user's own key for a vendor (bring your own key), stored encrypted; only its last 4 characters in clear."""
from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, new_id, now_ms


class ProviderKey(Base):
    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("pkey"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    # A Fernet token (MultiFernet over ENCRYPTION_KEY); never the key itself.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms, onupdate=now_ms)

    def __repr__(self) -> str:  # never the ciphertext, so a logged row shows nothing of the key
        return f"<ProviderKey {self.provider} of {self.user_id} ...{self.last4}>"
