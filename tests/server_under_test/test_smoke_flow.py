def test_a_phone_gets_an_sms_and_confirms_it(api):
    phone = api.phone()
    sms_id = api.enqueue({"number": "+420999888777", "body": "Ahoj"})["ids"][0]
    batch = api.device(phone["api_key"], "pending", {"limit": 20})
    assert [s["id"] for s in batch["sms_list"]] == [sms_id]
    api.device(phone["api_key"], "confirm-batch", {"results": [{"id": sms_id, "status": "sent"}]})
    assert api.sms(sms_id)["state"] == "sent"
    assert api.get_phone(phone["id"])["sent_today"] == 1
