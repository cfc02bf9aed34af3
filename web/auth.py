"""`/api/auth`: register, login (username or email), refresh, logout (revokes), me."""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    decode_token,
    get_jwt,
    jwt_required,
)
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from extensions.ext_settings import settings
from models import User
from models.db import db
from realtime.sessions import end_all_sessions, end_session, new_session_claims, revoke_token, session_claims
from schemas import wire
from schemas.core import (
    AuthOut,
    LoginIn,
    LogoutIn,
    OkOut,
    RefreshOut,
    RegisterIn,
    UserOut,
)
from web.errors import ApiError
from web.openapi import endpoint
from web.security import hash_password, password_problems, verify_password

bp = Blueprint("auth", __name__, url_prefix="/api/auth")
TAGS = ["auth"]


def _tokens_for(user: User) -> dict:
    """A new session: both tokens carry its id (README "Sessions")."""
    claims = new_session_claims()
    return {
        "access_token": create_access_token(identity=user.id, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user.id, additional_claims=claims),
        "token_type": "bearer",
        "user": wire.user(user),
    }


@bp.post("/register")
@endpoint("Create an account", tags=TAGS, body=RegisterIn, responses={201: AuthOut}, auth=False, errors=(409,))
def register(body: RegisterIn):
    missing = password_problems(body.password)
    if missing:
        raise ApiError(400, "password is too weak: it needs " + ", ".join(missing), code="weak_password",
                       details={"missing": missing})
    email = body.email.lower()
    s = db.session
    taken = s.execute(
        select(User.username, User.email).where(
            or_(func.lower(User.username) == body.username.lower(), User.email == email)
        )
    ).first()
    if taken is not None:
        field = "username" if taken.username.lower() == body.username.lower() else "email"
        raise ApiError(409, f"{field} is already registered", code="conflict", details={"field": field})
    user = User(username=body.username, email=email, password_hash=hash_password(body.password))
    s.add(user)
    try:
        s.commit()
    except IntegrityError:  # a concurrent registration won the race
        s.rollback()
        raise ApiError(409, "username or email is already registered", code="conflict") from None
    return _tokens_for(user), 201


@bp.post("/login")
@endpoint("Log in with username or email", tags=TAGS, body=LoginIn, responses={200: AuthOut}, auth=False)
def login(body: LoginIn):
    ident = body.username.strip().lower()
    user = db.session.execute(
        select(User).where(or_(func.lower(User.username) == ident, User.email == ident))
    ).scalar_one_or_none()
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        raise ApiError(401, "invalid username or password", code="invalid_credentials")
    return _tokens_for(user)


@bp.post("/refresh")
@jwt_required(refresh=True)
@endpoint("Exchange a refresh token for a new access token", tags=TAGS, responses={200: RefreshOut}, auth=True)
def refresh():
    claims = session_claims(get_jwt())  # the new access token belongs to the refresh token's session
    return {"access_token": create_access_token(identity=current_user.id, additional_claims=claims),
            "token_type": "bearer"}


@bp.post("/logout")
@jwt_required()
@endpoint("End the session of the presented token: its access and refresh tokens stop working", tags=TAGS,
          body=LogoutIn | None, responses={200: OkOut})
def logout(body: LogoutIn | None = None):
    refresh_payload = None
    if body is not None and body.refresh_token:  # validate before revoking anything
        try:
            refresh_payload = decode_token(body.refresh_token)
        except Exception:  # any undecodable token: nothing to revoke, say so
            raise ApiError(422, "refresh_token is not a valid token", code="validation_error") from None
        if refresh_payload.get("sub") != current_user.id or refresh_payload.get("type") != "refresh":
            raise ApiError(422, "refresh_token is not a valid token", code="validation_error")
    end_session(get_jwt(), settings().jwt_refresh_days)
    if refresh_payload is not None:
        revoke_token(refresh_payload)
    return {"success": True}


@bp.post("/logout-all")
@jwt_required()
@endpoint("End every session of the caller (every device): all their tokens issued so far stop working",
          tags=TAGS, responses={200: OkOut})
def logout_all():
    end_all_sessions(current_user.id, settings().jwt_refresh_days)
    return {"success": True}


@bp.get("/me")
@jwt_required()
@endpoint("The current user", tags=TAGS, responses={200: UserOut})
def me():
    user = db.session.get(User, current_user.id)
    if user is None:
        raise ApiError(401, "user no longer exists", "unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return wire.user(user)
