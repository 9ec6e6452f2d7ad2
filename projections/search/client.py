"""The OpenSearch client, one code path for both homes: plain HTTP to osmem-server locally, SigV4
(opensearch-py's AWSV4SignerAuth) against Amazon OpenSearch Service. Created on demand only."""
from __future__ import annotations

from typing import Any

from cqrs.settings import Settings


def make_client(settings: Settings, timeout: float = 10.0) -> Any:
    from opensearchpy import OpenSearch, RequestsHttpConnection

    from projections.search.serializer import OrjsonSerializer

    kwargs: dict[str, Any] = {"hosts": [settings.opensearch_url], "timeout": timeout,
                              "max_retries": 0,  # our writer retries per item; no blind whole-bulk resends
                              "serializer": OrjsonSerializer()}
    if settings.opensearch_auth == "sigv4":
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        kwargs.update(http_auth=AWSV4SignerAuth(credentials, settings.region, "es"),
                      connection_class=RequestsHttpConnection, use_ssl=True, verify_certs=True)
    elif settings.opensearch_auth != "none":
        raise ValueError(f"CQRS_OPENSEARCH_AUTH must be 'none' or 'sigv4', got {settings.opensearch_auth!r}")
    return OpenSearch(**kwargs)
