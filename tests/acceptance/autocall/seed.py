"""The seed's request body and the autocall client's headers, shared by the tests."""

from __future__ import annotations

from tests.conftest import Tenant

SEED_UUID = "c2da23c0-9739-4287-828a-7b15cf0fb19e"

# The seed's curl body, byte for byte.
SEED_CURL = """{
"campaign_uuid": "c2da23c0-9739-4287-828a-7b15cf0fb19e",
"campaign_name": "AutocallAudio",
"type": "autocall",
"description": "",
"active": true,
"concurrent_call": 5,
"carrier_uuid": "a18b400f-d487-4e17-b5e7-eba5fe6fa54f",
"template_uuid": "5f427552-857e-4939-8edf-cbd0f1ef6842",
"recall_times": 3,
"limit_recall_duration": 0,
"schedule_recall": "minute",
"schedule_recall_duration": 1,
"answer_callback_url": "",
"status": "stop",
"created_at": "2023-03-06T16:27:17.784242+07:00",
"updated_at": "2023-03-06T16:27:17.784242+07:00",
"template_name": "",
"carrier_name": "",
"mode_call": "direct",
"network": {
"viettel": 0,
"mobi": 0,
"vina": 0,
"tel": 0,
"offnet": 0
},
"run_id": "",
"type_autocall": "autocall_audio",
"call_timeout": 60,
"domain_name": "",
"users": [],
"groups": [],
"statuses": [],
"schedules": [
{
"monday_start_time": 28800000000000,
"monday_end_time": 75600000000000,
"tuesday_start_time": 28800000000000,
"tuesday_end_time": 75600000000000,
"wednesday_start_time": 28800000000000,
"wednesday_end_time": 75600000000000,
"thursday_start_time": 28800000000000,
"thursday_end_time": 75600000000000,
"friday_start_time": 28800000000000,
"friday_end_time": 75600000000000,
"saturday_start_time": 28800000000000,
"saturday_end_time": 75600000000000,
"sunday_start_time": 28800000000000,
"sunday_end_time": 75600000000000
}
],
"priority_recall": "normal",
"recall_status": [
"busy",
"failed",
"no-answered",
"not-available",
"voicemail",
"invalid-number",
"phone-block",
"congestion"
],
"enable_encrypt": false,
"callback_url": "",
"orig_campaign_uuid": ""
}"""


def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Content-type": "application/json", "Authorization": f"Bearer {tenant.key}"}
