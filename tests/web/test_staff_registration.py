def test_the_openapi_document_describes_registration_and_files() -> None:
    paths = document(ROUTES)["paths"]
    register_op = paths["/api/v1/registrations"]["post"]
    assert register_op["x-permission"] == "case.act"
    assert set(register_op["responses"]) >= {"201", "400", "403", "422"}
    body = register_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RegisterIn"}
    upload = paths["/api/v1/cases/{tracking_no}/files"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["required"] == ["file"]
    assert "put" in paths["/api/v1/cases/{tracking_no}/files/{file_id}/in_document"]
