"""What each function may touch beyond its own event sources (which every mapping grants by
itself). Declared here, next to nothing else, so a reviewer reads the whole permission surface in
one screen. A function of ingestion.functions.FUNCTIONS missing here fails the synth: new code
gets no access by accident."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    tables_read: tuple[str, ...] = ()
    tables_write: tuple[str, ...] = ()      # read-write data (conditional writes read first)
    put_events: bool = False                # the EventBridge bus
    search_write: bool = False              # OpenSearch (SigV4)
    search_read: bool = False
    lake_write: bool = False                # lake bucket + Glue partitions
    lake_read: bool = False
    warehouse: bool = False                 # Redshift Data API + admin secret
    start_saga: bool = False                # the checkout state machine


FUNCTION_ACCESS: dict[str, Access] = {
    "search-projector": Access(search_write=True),
    "lake-projector": Access(lake_write=True),
    "warehouse-projector": Access(warehouse=True),
    "event-pipe": Access(put_events=True),
    # The choreographed saga reserves stock, takes payment and confirms/cancels orders.
    "saga-steps": Access(tables_write=("Cart", "ProductCatalog", "Orders", "Payments"), put_events=True),
    # Second Look reads a customer's history and raises alerts.
    "second-look": Access(tables_read=("Transactions",), tables_write=("Alerts",), put_events=True),
}

# The search API is not stream-driven, so it is not in FUNCTIONS; its handler is declared here.
SEARCH_API_HANDLER = "search_api.lambda_handler:handle"
SEARCH_API_ACCESS = Access(search_read=True)


def access_for(function_name: str) -> Access:
    try:
        return FUNCTION_ACCESS[function_name]
    except KeyError:
        raise KeyError(
            f"function {function_name!r} (ingestion.functions.FUNCTIONS) has no entry in "
            "infra/access.py FUNCTION_ACCESS: declare what it may touch") from None
