"""API keys: stored hashed in a dedicated DynamoDB table (not streamed: keys are not an aggregate
of the command side and must never reach a read model).

A key reads `cqk_<key id>_<secret>`. The table holds the key id, a random per-key salt and
HMAC-SHA256(salt, secret); the secret itself is printed once at creation and never stored.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cqrs.settings import Settings
from search_api.queries import Principal

TABLE = "ApiKeys"
ROLES = ("analyst", "customer")


def table_name(settings: Settings) -> str:
    return settings.table(TABLE)


def create_table(settings: Settings) -> None:
    """`cqrs up` step (cqrs.provision.EXTRA_STEPS); idempotent."""
    ddb = settings.boto3_client("dynamodb")
    try:
        ddb.create_table(TableName=table_name(settings), BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "KeyId", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "KeyId", "AttributeType": "S"}],
                         SSESpecification={"Enabled": True})
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


class ApiKeyStore:
    def __init__(self, ddb: Any, table: str):
        self.ddb = ddb
        self.table = table

    def create(self, role: str, customer_id: str | None = None) -> tuple[str, str]:
        """-> (key id, the key in clear: shown once)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        if role == "customer" and not customer_id:
            raise ValueError("a customer key needs --customer")
        key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
        item = {"KeyId": {"S": key_id}, "Role": {"S": role}, "Salt": {"S": salt},
                "Hash": {"S": _digest(salt, secret)},
                "CreatedAt": {"S": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        if customer_id:
            item["CustomerId"] = {"S": customer_id}
        self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(KeyId)")
        return key_id, f"cqk_{key_id}_{secret}"

    def authenticate(self, presented: str | None) -> Principal | None:
        if not presented or len(presented) > 200 or not presented.startswith("cqk_"):
            return None
        key_id, sep, secret = presented[4:].partition("_")
        if not sep or not key_id or not secret:
            return None
        item = self.ddb.get_item(TableName=self.table, Key={"KeyId": {"S": key_id}},
                                 ConsistentRead=True).get("Item")
        if not item:
            return None
        if not hmac.compare_digest(_digest(item["Salt"]["S"], secret), item["Hash"]["S"]):
            return None
        return Principal(key_id=key_id, role=item["Role"]["S"],
                         customer_id=item.get("CustomerId", {}).get("S"))
