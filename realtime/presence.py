"""Who is connected, shared by every web process through Redis, and forgotten when nobody refreshes it.

Two sorted sets, both scored by an expiry time in epoch ms:

- `chat:room:<id>:conns`, members `<user>|<connection>`: a room's presence (`user_joined` when a
  user's first connection arrives, `user_left` when the last one goes);
- `chat:online`, members `<target>|<connection>`: which delivery targets have a socket somewhere,
  where a target is `u:<user>` (personal socket), `r:<user>:<room>` or `p:<user>:<peer>`; the
  redelivery worker only spends attempts on recipients that can receive.

Each web process refreshes the scores of its own connections; when a process dies its entries
expire, so a dead process's sockets disappear from presence within the TTL.
"""
from __future__ import annotations

import time
from typing import Iterable

from realtime.redis_store import RedisStore

# KEYS: room set. ARGV: member, user prefix (`<user>|`), expiry, now. Returns 1 if the user was already present.
_JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local present = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, string.len(ARGV[2])) == ARGV[2] then present = 1 break end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return present
"""

# KEYS: room set. ARGV: member, user prefix, now. Returns 1 if the user still has another connection.
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, string.len(ARGV[2])) == ARGV[2] then return 1 end
end
return 0
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def personal_target(user_id: str) -> str:
    return f"u:{user_id}"


def room_target(user_id: str, room_id: str) -> str:
    return f"r:{user_id}:{room_id}"


def private_target(user_id: str, peer_id: str) -> str:
    return f"p:{user_id}:{peer_id}"


class Presence:
    def __init__(self, store: RedisStore, ttl_seconds: float) -> None:
        self.store = store
        self.ttl_ms = int(ttl_seconds * 1000)
        self._join = store.r.register_script(_JOIN)
        self._leave = store.r.register_script(_LEAVE)

    def _room_key(self, room_id: str) -> str:
        return self.store.key("chat", "room", room_id, "conns")

    @property
    def _online_key(self) -> str:
        return self.store.key("chat", "online")

    def join_room(self, room_id: str, user_id: str, conn_id: str) -> bool:
        """Record the connection; True if this is the user's first connection to the room."""
        now = now_ms()
        present = self._join(keys=[self._room_key(room_id)],
                             args=[f"{user_id}|{conn_id}", f"{user_id}|", now + self.ttl_ms, now])
        return not present

    def leave_room(self, room_id: str, user_id: str, conn_id: str) -> bool:
        """Forget the connection; True if it was the user's last one in the room."""
        still = self._leave(keys=[self._room_key(room_id)], args=[f"{user_id}|{conn_id}", f"{user_id}|", now_ms()])
        return not still

    def room_users(self, room_id: str) -> set[str]:
        members = self.store.r.zrangebyscore(self._room_key(room_id), now_ms(), "+inf")
        return {m.split("|", 1)[0] for m in members}

    def go_online(self, target: str, conn_id: str) -> None:
        self.store.r.zadd(self._online_key, {f"{target}|{conn_id}": now_ms() + self.ttl_ms})

    def go_offline(self, target: str, conn_id: str) -> None:
        self.store.r.zrem(self._online_key, f"{target}|{conn_id}")

    def online_targets(self) -> set[str]:
        """Every target with a live connection (expired entries are dropped on the way)."""
        now = now_ms()
        pipe = self.store.r.pipeline()
        pipe.zremrangebyscore(self._online_key, "-inf", now)
        pipe.zrangebyscore(self._online_key, now, "+inf")
        members = pipe.execute()[1]
        return {m.rsplit("|", 1)[0] for m in members}

    def refresh(self, rooms: Iterable[tuple[str, str, str]], targets: Iterable[tuple[str, str]]) -> None:
        """Push the expiry of this process's connections forward: (room, user, conn) and (target, conn)."""
        expiry = now_ms() + self.ttl_ms
        pipe = self.store.r.pipeline(transaction=False)
        for room_id, user_id, conn_id in rooms:
            pipe.zadd(self._room_key(room_id), {f"{user_id}|{conn_id}": expiry})
            pipe.pexpire(self._room_key(room_id), self.ttl_ms * 2)
        online = {f"{target}|{conn_id}": expiry for target, conn_id in targets}
        if online:
            pipe.zadd(self._online_key, online)
        pipe.execute()


def presence_ttl(ping_interval: float) -> float:
    """Two ping intervals (a dead socket is closed within that) plus slack for the refresh itself."""
    return 2 * ping_interval + 5
