from tests.links.conftest import *  # noqa
from tests.conftest import ConsoleClient

def test_smoke(app, shop, alice, make_link, database):
    link_id = make_link(alice, shop.product_id)
    link = load_link(database, link_id)
    with ConsoleClient(app, base_url="http://testserver") as c:
        r = c.get(f"/s/{link.short_code}", follow_redirects=False)
        print(r.status_code, r.headers)
        r2 = c.get(r.headers["location"])
        print(r2.status_code, r2.text[:2000])
        r3 = c.get("/s/ZZZZZZZ", follow_redirects=False)
        print(r3.status_code, r3.text[:300])
    print(clicks_of(database))
