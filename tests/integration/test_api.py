import sys

sys.path.insert(0, "/work/main/tests")
from helpers import make_campaign, add_phones, phones


async def test_probe(client, tenant):
    h = tenant.headers
    c = await make_campaign(client, h, name="ПРИВЕТ мир")
    print(c)
    await add_phones(client, h, c["id"], phones(2))
    r = await client.get("/v1/campaigns", params={"text": "привет"}, headers=h)
    print("unicode", r.json()["total"])
    r = await client.get("/v1/campaigns", params={"text": "%"}, headers=h)
    print("pct", r.json()["total"])
    r = await client.get(f"/v1/campaigns/{c['id']}/stats", headers=h)
    print(r.json())
    r = await client.get(f"/v1/campaigns/{c['id']}/messages", headers=h)
    print(r.json())
    r = await client.get(f"/v1/campaigns/0", headers=h)
    print(r.status_code, r.json())
    r = await client.get(f"/v1/campaigns/{2**64}", headers=h)
    print(r.status_code, r.json())
