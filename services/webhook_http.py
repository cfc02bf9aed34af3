"""Calling a webhook receiver safely: Standard Webhooks signatures, the resolved address checked
against private ranges (at every call: DNS can change), a connection to that checked address only
(no second lookup), no redirects, short timeouts, a short excerpt of the answer kept."""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from settings import Settings

EXCERPT = 500
METADATA = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("192.0.0.0/24"),
            ipaddress.ip_network("fd00:ec2::/32"))


class Refused(Exception):
    """The URL resolves to an address webhooks may not reach (or does not resolve)."""


@dataclass
class Answer:
    status: int | None
    excerpt: str | None
    retry_after: float | None = None
    error: str | None = None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's bytes (after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _allowed(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, settings: Settings) -> bool:
    for item in (x.strip() for x in settings.webhook_allowed_networks.split(",")):
        if not item:
            continue
        if item.lower() == host.lower():
            return True
        try:
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or any(ip in net for net in METADATA if net.version == ip.version))


def resolve_checked(host: str, port: int, settings: Settings) -> str:
    """The first address of `host` webhooks may reach; Refused when any address is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from None
    ips = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in ips:
        if _forbidden(ip) and not _allowed(host, ip, settings):
            raise Refused(f"{host} resolves to {ip}, a private, loopback, link-local, multicast or metadata "
                          "address (allow it with WEBHOOK_ALLOWED_NETWORKS)")
    return str(ips[0])


def post(url: str, secret: str, msg_id: str, payload: dict, settings: Settings, timestamp: int) -> Answer:
    """One attempt. Raises Refused before any connection when the address is refused."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ip = resolve_checked(parts.hostname or "", port, settings)
    netloc = (f"[{ip}]" if ":" in ip else ip) + (f":{parts.port}" if parts.port else "")
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    body = body_of(payload)
    headers = {"content-type": "application/json", "host": parts.netloc.rsplit("@", 1)[-1],
               "user-agent": "ai-chat-studio-webhooks/1", "webhook-id": msg_id,
               "webhook-timestamp": str(timestamp), "webhook-signature": sign(secret, msg_id, timestamp, body)}
    timeout = httpx.Timeout(settings.webhook_read_timeout, connect=settings.webhook_connect_timeout)
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
            ext = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
            with client.stream("POST", target, content=body, headers=headers, extensions=ext) as r:
                excerpt = next(r.iter_bytes(), b"")[:EXCERPT].decode(errors="replace")
    except httpx.TimeoutException as exc:
        return Answer(None, None, error=f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Answer(None, None, error=f"connection error: {type(exc).__name__}: {exc}"[:300])
    return Answer(r.status_code, excerpt, retry_after=_retry_after(r.headers.get("retry-after")))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def retryable(answer: Answer) -> bool:
    return answer.status is None or answer.status == 429 or answer.status >= 500
