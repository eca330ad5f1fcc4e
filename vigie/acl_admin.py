"""The Kafka side of vigie/broker_auth.py: SCRAM users and ACLs created through the admin client (as admin).

Both are idempotent: an upsert of a user with its password, a CreateAcls of a rule that exists, change
nothing, so `vigie up` applies them at every start and a principal or rule added by a later Vigie appears.
"""

from __future__ import annotations

import time

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from vigie.broker_auth import PRINCIPALS, SCRAM_ITERATIONS, AclSpec
from vigie.kafka_client import KafkaSettings, make_admin

_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERN = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_OPERATION = {"read": AclOperation.READ, "write": AclOperation.WRITE, "create": AclOperation.CREATE,
              "describe": AclOperation.DESCRIBE, "describe_configs": AclOperation.DESCRIBE_CONFIGS}


def ensure_users(admin_settings: KafkaSettings, passwords: dict[str, str], timeout: float = 30.0) -> None:
    """Upsert every principal's SCRAM-SHA-512 user with its password from the state folder."""
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(name, info, passwords[name].encode()) for name in PRINCIPALS]
    admin = make_admin(admin_settings)  # kept until the answers are in: a destroyed client fails its futures
    futures = admin.alter_user_scram_credentials(upserts, request_timeout=timeout)
    for fut in futures.values():
        fut.result()


def binding(spec: AclSpec) -> AclBinding:
    """The admin client's form of one rule (any host)."""
    return AclBinding(_RESOURCE[spec.resource], spec.name, _PATTERN[spec.pattern], f"User:{spec.principal}", "*",
                      _OPERATION[spec.operation], AclPermissionType.ALLOW)


def ensure_acls(admin_settings: KafkaSettings, specs: list[AclSpec], timeout: float = 30.0) -> int:
    """Create every rule (those that exist are left as they are); returns how many were asked for."""
    if not specs:
        return 0
    admin = make_admin(admin_settings)
    futures = admin.create_acls([binding(s) for s in specs], request_timeout=timeout)
    for fut in futures.values():
        fut.result()
    _wait_visible(admin, {str(b) for b in futures}, timeout)
    return len(specs)


def _wait_visible(admin: AdminClient, wanted: set[str], timeout: float) -> None:
    """Wait until the broker enforces the rules: it applies the controller's record a moment after CreateAcls
    answers (a client started at once was refused, measured: up to ~1 s on the loaded 2-core machine)."""
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    deadline = time.monotonic() + timeout
    while not wanted <= {str(b) for b in admin.describe_acls(every, request_timeout=timeout).result()}:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not apply {len(wanted)} ACLs within {timeout:.0f} s")
        time.sleep(0.1)
