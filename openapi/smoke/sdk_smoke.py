"""Drives a live Tessera server through the generated Python SDK.

Usage: python sdk_smoke.py BASE_URL ADMIN_TOKEN
Creates a tenant, a confidential client and a user, reads them back, checks a
problem response, then deletes the tenant. Exits non-zero on any mismatch.
"""

import sys
import uuid

from tessera_management_api_client import AuthenticatedClient
from tessera_management_api_client.api.clients import create_client, get_client
from tessera_management_api_client.api.tenants import create_tenant, delete_tenant, get_tenant
from tessera_management_api_client.api.users import create_user, list_users
from tessera_management_api_client.models import (
    ClientTypeDto,
    CreateClientRequest,
    CreateTenantRequest,
    CreateUserRequest,
)


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    slug = f"sdk-{uuid.uuid4().hex[:10]}"

    tenant = create_tenant.sync(client=client, body=CreateTenantRequest(slug=slug, display_name="SDK smoke"))
    assert tenant.slug == slug, tenant
    assert tenant.issuer.endswith(f"/t/{slug}"), tenant.issuer

    created = create_client.sync(
        client=client,
        tenant=slug,
        body=CreateClientRequest(
            name="SDK app",
            client_type=ClientTypeDto.CONFIDENTIAL,
            redirect_uris=["https://app.example.com/callback"],
        ),
    )
    assert created.client_secret, "a confidential client gets its secret once"
    fetched = get_client.sync(client=client, tenant=slug, client_id=created.client_id)
    assert fetched.client_id == created.client_id
    assert not fetched.client_secret, "the secret is never shown again"

    user = create_user.sync(
        client=client,
        tenant=slug,
        body=CreateUserRequest(username="sdk.user", email="sdk.user@example.com", password="correct horse battery"),
    )
    found = list_users.sync(client=client, tenant=slug, email="SDK.USER@example.com")
    assert [u.id for u in found.items] == [user.id], found

    # A problem response comes back as a typed error, not an exception or a 5xx.
    dup = create_tenant.sync_detailed(client=client, body=CreateTenantRequest(slug=slug, display_name="dup"))
    assert dup.status_code == 409, dup.status_code

    delete_tenant.sync_detailed(client=client, tenant=slug)
    gone = get_tenant.sync_detailed(client=client, tenant=slug)
    assert gone.status_code == 404, gone.status_code

    print(f"SDK smoke: tenant {slug}, client {created.client_id}, user {user.id}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
