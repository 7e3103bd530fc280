"""Who is acting: a signed-in user or a service client's API key.

Services take a Principal as their actor and decide with it; they never look at how the
request authenticated.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Forbidden
from core.models import ApiKey, User

INSUFFICIENT_SCOPE = "insufficient_scope"


@dataclass(frozen=True)
class Principal:
    user: User | None = None
    api_key: ApiKey | None = None
    # The operator at the command line: trusted with everything, acting for no user.
    operator: bool = False

    @classmethod
    def for_user(cls, user: User) -> Principal:
        return cls(user=user)

    @classmethod
    def for_key(cls, api_key: ApiKey) -> Principal:
        return cls(api_key=api_key)

    @classmethod
    def for_operator(cls) -> Principal:
        return cls(operator=True)

    @property
    def is_api_key(self) -> bool:
        return self.api_key is not None

    @property
    def client(self) -> tuple[str, int]:
        """Who is calling, as usage and idempotency keys scope it: the API key itself, else
        the user; ``("anonymous", 0)`` for neither."""
        if self.api_key is not None:
            return "api_key", self.api_key.id
        if self.user is not None:
            return "user", self.user.id
        return "anonymous", 0

    @property
    def user_id(self) -> int | None:
        """The user this principal acts for: the user, or the admin who created the key."""
        if self.api_key is not None:
            return self.api_key.created_by
        return self.user.id if self.user is not None else None

    @property
    def is_admin(self) -> bool:
        """A signed-in admin user or the operator; a key never carries its creator's role."""
        if self.operator:
            return True
        return self.api_key is None and self.user is not None and self.user.is_admin

    def has_scope(self, scope: str) -> bool:
        """A key has the scopes it was given; a signed-in user or the operator has every scope."""
        if self.api_key is not None:
            return scope in self.api_key.scope_list
        return self.user is not None or self.operator

    def require_scope(self, scope: str) -> None:
        """Raises Forbidden(insufficient_scope) unless this principal has ``scope``."""
        if not self.has_scope(scope):
            holder = "This API key" if self.api_key is not None else "This request"
            raise Forbidden(f"{holder} lacks the '{scope}' scope", reason=INSUFFICIENT_SCOPE)

    def require_admin(self, message: str) -> None:
        """Raises Forbidden unless this principal is an admin user (never an API key)."""
        if not self.is_admin:
            raise Forbidden(message)
