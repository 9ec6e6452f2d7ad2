"""Every AWS resource the system needs, declared once.

`cqrs up` creates them on the local stack (`cqrs.provision`); `infra/` reads the same declarations
so the CDK app and the local stack cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class Table:
    """A command-side DynamoDB table. Streams are always NEW_AND_OLD_IMAGES (the read models need
    both images to tell a delete's last state and to order by Version)."""

    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None
    entity: str = ""  # the read-model entity name ("order", "cart", ...)
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)

    def entity_for(self, key: dict) -> str:
        """ProductCatalog holds two entities: the product row (TranID "0") and its stock movements."""
        if self.name == "ProductCatalog" and key.get("TranID") != "0":
            return "inventory_movement"
        return self.entity

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key[0],) + ((self.range_key[0],) if self.range_key else ())


TABLES: tuple[Table, ...] = (
    Table("Cart", ("CartId", "S"), entity="cart", ttl_attribute="ExpiresAt"),
    Table("ProductCatalog", ("ProductID", "S"), ("TranID", "S"), entity="product"),
    Table("Orders", ("OrderId", "S"), entity="order",
          indexes=(Index("ByCustomer", ("CustomerId", "S"), ("CreatedAt", "S")),)),
    Table("Payments", ("PaymentId", "S"), entity="payment"),
    Table("Transactions", ("TransactionId", "S"), entity="transaction",
          indexes=(Index("ByCustomer", ("CustomerId", "S"), ("PostedAt", "S")),)),
    Table("Alerts", ("AlertId", "S"), entity="alert"),
)

TABLES_BY_NAME = {t.name: t for t in TABLES}

# Queues: EventBridge rule targets and dead-letter queues. Names only; settings live with the
# function mappings (ingestion.mappings) that consume them.
QUEUES: tuple[str, ...] = (
    "saga-steps",
    "second-look",
    "notifications",
    "failures",
)


def table_for(name: str, prefix: str = "") -> Table:
    """The declaration of a (possibly prefixed) table name."""
    bare = name[len(prefix):] if prefix and name.startswith(prefix) else name
    try:
        return TABLES_BY_NAME[bare]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES_BY_NAME)}") from None
