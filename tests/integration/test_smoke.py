def test_register_and_me(api, user):
    r = api.get("/api/auth/me", headers=user["headers"])
    assert r.status_code == 200
    assert r.json()["id"] == user["user"]["id"]
