def test_app_starts_and_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"csrf_token" in response.data
