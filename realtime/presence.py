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
from typing import Callable, Iterable

from realtime.redis_store import RedisStore

# Drops a room's expired connections (score <= now) and returns the users left with none: their process
# died (or lost Redis) without saying goodbye. Atomic, so of all the processes that run it at the same
# moment exactly one sees each removal, and `user_left` is announced once.
_EXPIRE = """
local function expire(key, now, keep)
  local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now)
  if #gone == 0 then return {} end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local users = {}
  for _, m in ipairs(gone) do
    local u = string.match(m, '^(.-)|')
    if u and u ~= keep then users[u] = true end
  end
  local rest = redis.call('ZRANGE', key, 0, -1)
  local left = {}
  for u, _ in pairs(users) do
    local still = false
    for _, m in ipairs(rest) do
      if string.sub(m, 1, string.len(u) + 1) == u .. '|' then still = true break end
    end
    if not still then table.insert(left, u) end
  end
  return left
end
"""

# KEYS: room set. ARGV: member, user prefix (`<user>|`), expiry, now, user.
# Returns {1 if the user was already present else 0, users whose last connection expired...}.
_JOIN = _EXPIRE + """
local left = expire(KEYS[1], ARGV[4], ARGV[5])
local present = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, string.len(ARGV[2])) == ARGV[2] then present = 1 break end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
table.insert(left, 1, present)
return left
"""

# KEYS: room set. ARGV: member, user prefix, now, user.
# Returns {1 if the user still has another connection else 0, users whose last connection expired...}.
_LEAVE = _EXPIRE + """
redis.call('ZREM', KEYS[1], ARGV[1])
local left = expire(KEYS[1], ARGV[3], ARGV[4])
local still = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, string.len(ARGV[2])) == ARGV[2] then still = 1 break end
end
table.insert(left, 1, still)
return left
"""

# KEYS: room set. ARGV: now. Returns the users whose last connection expired.
_SWEEP = _EXPIRE + """
return expire(KEYS[1], ARGV[1], '')
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
    """`ttl_seconds` is the documented bound: a dead process's connections are gone, and their users'
    `user_left` announced, within it. Entries live `ttl - sweep_interval` after their last refresh, and
    each process sweeps its rooms every `sweep_interval`, so detection plus announcement fit in the ttl."""

    def __init__(self, store: RedisStore, ttl_seconds: float, sweep_interval: float = 0.0) -> None:
        self.store = store
        self.ttl_ms = int(ttl_seconds * 1000)
        self.sweep_interval = sweep_interval
        self.entry_ms = int((ttl_seconds - sweep_interval) * 1000)
        self._join = store.r.register_script(_JOIN)
        self._leave = store.r.register_script(_LEAVE)
        self._sweep = store.r.register_script(_SWEEP)
        # Called with (room, users) for users whose last connection to a room expired (set by the hub).
        self.on_expired: Callable[[str, list[str]], None] | None = None

    def _room_key(self, room_id: str) -> str:
        return self.store.key("chat", "room", room_id, "conns")

    @property
    def _online_key(self) -> str:
        return self.store.key("chat", "online")

    def _report(self, room_id: str, users: list[str]) -> None:
        if users and self.on_expired is not None:
            self.on_expired(room_id, users)

    def join_room(self, room_id: str, user_id: str, conn_id: str) -> bool:
        """Record the connection; True if this is the user's first connection to the room."""
        now = now_ms()
        present, *left = self._join(keys=[self._room_key(room_id)],
                                    args=[f"{user_id}|{conn_id}", f"{user_id}|", now + self.entry_ms, now, user_id])
        self._report(room_id, left)
        return not present

    def leave_room(self, room_id: str, user_id: str, conn_id: str) -> bool:
        """Forget the connection; True if it was the user's last one in the room."""
        still, *left = self._leave(keys=[self._room_key(room_id)],
                                   args=[f"{user_id}|{conn_id}", f"{user_id}|", now_ms(), user_id])
        self._report(room_id, left)
        return not still

    def sweep(self, room_ids: Iterable[str]) -> dict[str, list[str]]:
        """Drop the expired connections of these rooms; returns, per room, the users left with none
        (only to the one caller that removed them, whatever the number of processes sweeping)."""
        rooms = list(room_ids)
        if not rooms:
            return {}
        now = now_ms()
        pipe = self.store.r.pipeline(transaction=False)
        for room_id in rooms:
            self._sweep(keys=[self._room_key(room_id)], args=[now], client=pipe)
        return {room: users for room, users in zip(rooms, pipe.execute()) if users}

    def room_users(self, room_id: str) -> set[str]:
        members = self.store.r.zrangebyscore(self._room_key(room_id), now_ms(), "+inf")
        return {m.split("|", 1)[0] for m in members}

    def go_online(self, target: str, conn_id: str) -> None:
        self.store.r.zadd(self._online_key, {f"{target}|{conn_id}": now_ms() + self.entry_ms})

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
        expiry = now_ms() + self.entry_ms
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


def refresh_interval(ping_interval: float) -> float:
    """How often a web process refreshes its connections and sweeps its rooms."""
    return max(0.2, ping_interval / 2)
