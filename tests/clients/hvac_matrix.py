"""The client compatibility matrix's hvac operations (tests/integration/compat/).

Usage: python3 hvac_matrix.py <kv-prefix>, with hvac importable. The client is built the way a
service builds it, from VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, VAULT_CLIENT_CERT and
VAULT_CLIENT_KEY; the COMPAT_* variables name the transit key, PKI role and fixtures. One JSON
line per operation: {"op", "status", "body"} (status null when hvac returns parsed JSON
without it) or {"op", "value"} for calls that return a plain value. Never prints the token.
"""

import json
import os
import sys

import hvac
from hvac import exceptions

# hvac raises one exception class per status (hvac.exceptions.VaultError.from_status).
STATUS_OF = {
    exceptions.InvalidRequest: 400,
    exceptions.Unauthorized: 401,
    exceptions.Forbidden: 403,
    exceptions.InvalidPath: 404,
    exceptions.RateLimitExceeded: 429,
    exceptions.InternalServerError: 500,
    exceptions.VaultNotInitialized: 501,
    exceptions.BadGateway: 502,
    exceptions.VaultDown: 503,
}


def client_from_env():
    env = os.environ
    cert = None
    if env.get("VAULT_CLIENT_CERT"):
        cert = (env["VAULT_CLIENT_CERT"], env["VAULT_CLIENT_KEY"])
    return hvac.Client(
        url=env["VAULT_ADDR"],
        token=env.get("VAULT_TOKEN"),
        verify=env.get("VAULT_CACERT", True),
        cert=cert,
    )


def record(op, call):
    try:
        result = call()
    except exceptions.VaultError as e:
        line = {"op": op, "status": STATUS_OF.get(type(e), 0), "body": e.json}
    except Exception as e:  # noqa: BLE001 - any other failure is an outcome too
        line = {"op": op, "status": None, "body": None, "error": type(e).__name__}
    else:
        if isinstance(result, (bool, str, int)) or result is None:
            line = {"op": op, "value": result}
        elif isinstance(result, dict):
            line = {"op": op, "status": None, "body": result}
        else:  # a requests.Response: hvac hands back answers without JSON (204) as they came
            line = {"op": op, "status": result.status_code, "body": None}
    print(json.dumps(line), flush=True)


def main():
    prefix = sys.argv[1]
    env = os.environ
    client = client_from_env()
    kv = client.secrets.kv.v2
    path = f"{prefix}/db"
    ops = [
        ("kv.v2.create_or_update_secret", lambda: kv.create_or_update_secret(
            path=path, secret={"colour": "blue"}, mount_point="secret")),
        ("kv.v2.read_secret_version", lambda: kv.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True)),
        ("kv.v2.read_secret_version(version=1)", lambda: kv.read_secret_version(
            path=path, version=1, mount_point="secret", raise_on_deleted_version=True)),
        ("kv.v2.patch", lambda: kv.patch(path=path, secret={"size": "large"}, mount_point="secret")),
        ("kv.v2.list_secrets", lambda: kv.list_secrets(path=prefix, mount_point="secret")),
        ("kv.v2.read_secret_metadata", lambda: kv.read_secret_metadata(path=path, mount_point="secret")),
        ("kv.v2.update_metadata", lambda: kv.update_metadata(
            path=path, max_versions=5, custom_metadata={"owner": "billing"},
            mount_point="secret")),
        ("kv.v2.delete_latest_version_of_secret", lambda: kv.delete_latest_version_of_secret(
            path=path, mount_point="secret")),
        ("kv.v2.undelete_secret_versions", lambda: kv.undelete_secret_versions(
            path=path, versions=[2], mount_point="secret")),
        ("kv.v2.delete_secret_versions", lambda: kv.delete_secret_versions(
            path=path, versions=[1], mount_point="secret")),
        ("kv.v2.destroy_secret_versions", lambda: kv.destroy_secret_versions(
            path=path, versions=[1], mount_point="secret")),
        ("kv.v2.delete_metadata_and_all_versions", lambda: kv.delete_metadata_and_all_versions(
            path=path, mount_point="secret")),
        ("is_authenticated", client.is_authenticated),
        ("sys.is_initialized", client.sys.is_initialized),
        ("sys.is_sealed", client.sys.is_sealed),
        ("sys.read_health_status()", client.sys.read_health_status),
        ("sys.read_health_status(method=GET)", lambda: client.sys.read_health_status(
            method="GET")),
        ("transit.encrypt_data", lambda: client.secrets.transit.encrypt_data(
            name=env["COMPAT_TRANSIT_KEY"], plaintext=env["COMPAT_PLAINTEXT"])),
        ("transit.decrypt_data", lambda: client.secrets.transit.decrypt_data(
            name=env["COMPAT_TRANSIT_KEY"], ciphertext=env["COMPAT_CIPHERTEXT"])),
        ("pki.generate_certificate", lambda: client.secrets.pki.generate_certificate(
            name=env["COMPAT_PKI_ROLE"], common_name=env["COMPAT_COMMON_NAME"],
            extra_params={"ttl": "10m"})),
    ]
    for op, call in ops:
        record(op, call)


if __name__ == "__main__":
    main()
