"""Who is calling.

Every call has a principal: a customer (with an id), a member of staff
(`ops`, `admin`) or an internal service. The server interceptor resolves it
from the call's verified bearer token (`meshkit.auth`), once; handlers only
read `current()`.
"""

from __future__ import annotations

import contextvars
import enum
from dataclasses import dataclass

from meshkit import errors


class Role(enum.Enum):
    CUSTOMER = "customer"
    OPS = "ops"
    ADMIN = "admin"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    role: Role
    # The customer's id for customers; 0 otherwise.
    customer_id: int = 0
    # The calling service's name for internal callers.
    service: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.OPS, Role.ADMIN, Role.SERVICE)

    @property
    def label(self) -> str:
        """Who this is, for logs: `customer:42`, `role:ops`, `service:orders`."""
        if self.role is Role.CUSTOMER:
            return f"customer:{self.customer_id}"
        if self.role is Role.SERVICE:
            return f"service:{self.service}"
        return f"role:{self.role.value}"

    def require(self, *roles: Role) -> None:
        """Refuse with PERMISSION_DENIED unless the caller has one of `roles`.
        An admin always passes, whatever `roles` lists."""
        if self.role not in roles and self.role is not Role.ADMIN:
            raise errors.permission_denied(f"{self.role.value} may not do this")

    def may_see_customer(self, customer_id: int) -> bool:
        return self.is_staff or self.customer_id == customer_id


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current() -> Principal:
    return _current.get()


def bind(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)


def unbind(token: contextvars.Token[Principal]) -> None:
    _current.reset(token)
