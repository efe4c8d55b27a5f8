"""NOTIFY on outbox and notification writes.

An outbox insert wakes the relays listening on the table's own channel at
once, instead of at their next poll; a notification insert or delivery wakes
the streams watching that customer.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOXES = ("orders_outbox", "shipping_outbox", "notifications_outbox")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION shopmesh_notify_table() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_TABLE_NAME, '');
            RETURN NULL;
        END $$
        """
    )
    for table in OUTBOXES:
        # Once per statement: a transaction that writes several events wakes the relay once.
        op.execute(
            f"CREATE TRIGGER {table}_wake AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION shopmesh_notify_table()"
        )
    op.execute(
        """
        CREATE FUNCTION shopmesh_notify_notification() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('notifications', NEW.customer_id || ':' || NEW.id);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER notifications_watch AFTER INSERT OR UPDATE ON notifications "
        "FOR EACH ROW EXECUTE FUNCTION shopmesh_notify_notification()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER notifications_watch ON notifications")
    op.execute("DROP FUNCTION shopmesh_notify_notification()")
    for table in OUTBOXES:
        op.execute(f"DROP TRIGGER {table}_wake ON {table}")
    op.execute("DROP FUNCTION shopmesh_notify_table()")
