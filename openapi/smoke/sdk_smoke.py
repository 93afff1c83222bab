"""Drives a live Tessera server through the generated Python SDK.

Usage: python sdk_smoke.py BASE_URL ADMIN_TOKEN
Creates a tenant, a confidential client and a user, reads them back, defines an API
with a role and a client grant and gets a token for it, checks a problem response,
then deletes the tenant. Exits non-zero on any mismatch.
"""

import base64
import json
import sys
import urllib.parse
import urllib.request
import uuid

from tessera_management_api_client import AuthenticatedClient
from tessera_management_api_client.api.apis import create_api, get_api_protected_resource_metadata
from tessera_management_api_client.api.client_grants import create_client_grant
from tessera_management_api_client.api.clients import create_client, get_client
from tessera_management_api_client.api.roles import create_role, set_user_roles
from tessera_management_api_client.api.tenants import create_tenant, delete_tenant, get_tenant
from tessera_management_api_client.api.users import create_user, list_users
from tessera_management_api_client.models import (
    ApiScopeDto,
    ClientTypeDto,
    CreateApiRequest,
    CreateClientGrantRequest,
    CreateClientRequest,
    CreateRoleRequest,
    CreateTenantRequest,
    CreateUserRequest,
    PermissionDto,
    SetUserRolesRequest,
    TokenFormatDto,
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

    # An API with a role and a client grant; a machine token for it names it as `aud`.
    api = create_api.sync(
        client=client,
        tenant=slug,
        body=CreateApiRequest(
            name="Invoices",
            identifier="https://invoices.example/",
            scopes=[ApiScopeDto(value="invoices:read", description="Read invoices")],
            token_format=TokenFormatDto.JWT,
        ),
    )
    assert api.identifier == "https://invoices.example/", api
    metadata = get_api_protected_resource_metadata.sync(client=client, tenant=slug, api_id=api.id)
    assert metadata.authorization_servers == [tenant.issuer], metadata
    role = create_role.sync(
        client=client,
        tenant=slug,
        body=CreateRoleRequest(name="reader", permissions=[PermissionDto(api_id=api.id, scope="invoices:read")]),
    )
    held = set_user_roles.sync(client=client, tenant=slug, user_id=user.id, body=SetUserRolesRequest(role_ids=[role.id]))
    assert [r.name for r in held.items] == ["reader"], held
    machine = create_client.sync(
        client=client,
        tenant=slug,
        body=CreateClientRequest(name="SDK job", client_type=ClientTypeDto.CONFIDENTIAL, grant_types=["client_credentials"]),
    )
    create_client_grant.sync(
        client=client,
        tenant=slug,
        body=CreateClientGrantRequest(client_id=machine.client_id, api_id=api.id, scopes=["invoices:read"]),
    )
    basic = base64.b64encode(f"{machine.client_id}:{machine.client_secret}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": api.identifier}).encode()
    request = urllib.request.Request(f"{tenant.issuer}/token", data=form, headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request) as answer:
        access_token = json.load(answer)["access_token"]
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == api.identifier and claims["scope"] == "invoices:read", claims

    # A problem response comes back as a typed error, not an exception or a 5xx.
    dup = create_tenant.sync_detailed(client=client, body=CreateTenantRequest(slug=slug, display_name="dup"))
    assert dup.status_code == 409, dup.status_code

    delete_tenant.sync_detailed(client=client, tenant=slug)
    gone = get_tenant.sync_detailed(client=client, tenant=slug)
    assert gone.status_code == 404, gone.status_code

    print(f"SDK smoke: tenant {slug}, client {created.client_id}, user {user.id}, API {api.id}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
