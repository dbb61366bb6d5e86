from fastapi.testclient import TestClient

from app.vocabularies import ActivityStatus, ParticipantRole, PartnerKind


def test_every_vocabulary_is_listed_with_value_label_and_description(client: TestClient) -> None:
    response = client.get("/v1/vocabularies")
    assert response.status_code == 200
    vocabularies = {v["name"]: v for v in response.json()["items"]}
    assert set(vocabularies) == {
        "work_plan_status",
        "activity_status",
        "activity_type",
        "activity_level",
        "participant_role",
        "partner_kind",
        "instrument",
        "ratification_action",
        "report_kind",
        "report_status",
        "assessment",
        "article",
    }
    for vocabulary in vocabularies.values():
        for term in vocabulary["terms"]:
            assert term["value"]
            assert term["label"]
            assert term["description"]
    assert [t["value"] for t in vocabularies["activity_status"]["terms"]] == [s.value for s in ActivityStatus]
    assert [t["value"] for t in vocabularies["participant_role"]["terms"]] == [r.value for r in ParticipantRole]
    assert len(vocabularies["partner_kind"]["terms"]) == len(PartnerKind)


def test_instruments_carry_their_entry_into_force(client: TestClient) -> None:
    terms = client.get("/v1/vocabularies/instrument").json()["terms"]
    assert {t["value"]: t["in_force_on"] for t in terms} == {
        "CRC": "1990-09-02",
        "OPSC": "2002-01-18",
        "OPAC": "2002-02-12",
    }


def test_articles_are_the_core_and_related_ones(client: TestClient) -> None:
    terms = client.get("/v1/vocabularies/article").json()["terms"]
    core = sorted((t["instrument"], t["article"]) for t in terms if t["group"] == "core" and t["instrument"] == "CRC")
    assert core == [("CRC", 19), ("CRC", 34), ("CRC", 35), ("CRC", 36), ("CRC", 39)]
    opsc = sorted(t["article"] for t in terms if t["instrument"] == "OPSC")
    assert opsc == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]


def test_an_unknown_vocabulary_is_404(client: TestClient) -> None:
    response = client.get("/v1/vocabularies/colours")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
