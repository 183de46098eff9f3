from tests.support.api import signed_up


def test_register_login_me(client):
    user, headers = signed_up(client)
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["id"] == user["id"]
