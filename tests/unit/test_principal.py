"""Who may do what: roles and customers' own data."""

import pytest

from meshkit import principal
from meshkit.errors import AppError, Kind
from meshkit.principal import Principal, Role

CUSTOMER = Principal(Role.CUSTOMER, customer_id=7)
OPS = Principal(Role.OPS)
ADMIN = Principal(Role.ADMIN)
SERVICE = Principal(Role.SERVICE, service="shipping")


def test_a_caller_with_a_listed_role_passes() -> None:
    OPS.require(Role.OPS)
    SERVICE.require(Role.OPS, Role.SERVICE)
    CUSTOMER.require(Role.CUSTOMER)


def test_an_admin_passes_whatever_the_roles_listed() -> None:
    ADMIN.require(Role.OPS)
    ADMIN.require(Role.SERVICE)


@pytest.mark.parametrize(
    ("caller", "roles"),
    [(CUSTOMER, (Role.OPS, Role.ADMIN)), (OPS, (Role.SERVICE,)), (SERVICE, (Role.OPS,))],
)
def test_a_caller_without_a_listed_role_is_refused_naming_its_role(
    caller: Principal, roles: tuple[Role, ...]
) -> None:
    with pytest.raises(AppError) as refused:
        caller.require(*roles)
    assert refused.value.kind is Kind.PERMISSION_DENIED
    assert refused.value.message == f"{caller.role.value} may not do this"


def test_a_customer_sees_only_their_own_data() -> None:
    assert CUSTOMER.may_see_customer(7)
    assert not CUSTOMER.may_see_customer(8)
    assert not Principal(Role.CUSTOMER, customer_id=0).may_see_customer(7)


@pytest.mark.parametrize("staff", [OPS, ADMIN, SERVICE])
def test_staff_and_services_see_every_customer(staff: Principal) -> None:
    assert staff.is_staff
    assert staff.may_see_customer(7) and staff.may_see_customer(8)


def test_a_customer_is_not_staff() -> None:
    assert not CUSTOMER.is_staff


def test_log_labels_say_who_called() -> None:
    assert [p.label for p in (CUSTOMER, OPS, ADMIN, SERVICE)] == [
        "customer:7",
        "role:ops",
        "role:admin",
        "service:shipping",
    ]


def test_the_bound_principal_is_current_until_unbound() -> None:
    outer = principal.bind(OPS)
    try:
        inner = principal.bind(CUSTOMER)
        assert principal.current() is CUSTOMER
        principal.unbind(inner)
        assert principal.current() is OPS
    finally:
        principal.unbind(outer)
