from tests.helpers import add_phones, make_campaign, phones


async def test_probe(client, tenant):
    h = tenant.headers
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], phones(2))
    r = await client.post(f"/v1/campaigns/{c['id']}/start", headers=h)
    print(r.status_code, r.json()["status"])
    r = await client.post(f"/v1/campaigns/{c['id']}/retry", headers=h)
    print(r.status_code, r.text)
