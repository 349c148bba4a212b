"""The network servers' own example messages, as their documentation prints them.

``TTS_UPLINK``: The Things Stack documentation, Integrations > Data Formats, "Uplink message
example" (the lorawan-stack-docs repository, ``doc/content/integrations/data-formats``).
``TTS_JOIN``: the same page, "Join message example".
``CHIRPSTACK_UP`` and ``CHIRPSTACK_JOIN``: ChirpStack v4 documentation, Integrations > Event
types, the ``up`` and ``join`` JSON examples (the chirpstack-docs repository,
``src/chirpstack/integrations/events.md``). ChirpStack's ``up`` example has no ``object``
(its device profile has no codec); :func:`with_object` adds one as a codec would.
"""

from __future__ import annotations

from typing import Any

import orjson

TTS_UPLINK = b"""{
  "end_device_ids" : {
    "device_id" : "dev1",
    "application_ids" : {
      "application_id" : "app1"
    },
    "dev_eui" : "0004A30B001C0530",
    "join_eui" : "800000000000000C",
    "dev_addr" : "00BCB929"
  },
  "correlation_ids" : [
    "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ",
    "gs:conn:01E0WDEC6T5T4XXBAX7S1VMFKE",
    "gs:uplink:01E0WZGSZWT07NE5TS2APTV1Z9",
    "ns:uplink:01E0WZGSZXZXZS8RFAWZX0F2FY",
    "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01E0WZGSZXGE1KS577PFBWRJEE"
  ],
  "received_at" : "2020-02-12T15:15:46.014773143Z",
  "uplink_message" : {
    "session_key_id" : "AXA50tHUGUucuzS/bCGMNw==",
    "f_cnt" : 1,
    "frm_payload" : "gkHe",
    "decoded_payload" : {
      "temperature": 1.0,
      "luminosity": 0.64
    },
    "rx_metadata" : [ {
      "gateway_ids" : {
        "gateway_id" : "gtw1",
        "eui" : "9C5C8E00001A05C4"
      },
      "time" : "2020-02-12T15:15:45.787Z",
      "timestamp" : 2463457000,
      "rssi" : -35,
      "channel_rssi" : -35,
      "snr" : 5,
      "uplink_token" : "ChIKEAoEZ3R3MRIInFyOAAAaBcQQ6L3Vlgk=",
      "channel_index" : 2
    } ],
    "settings" : {
      "data_rate" : {
        "lora" : {
          "bandwidth" : 125000,
          "spreading_factor" : 7
        }
      },
      "data_rate_index" : 5,
      "coding_rate" : "4/6",
      "frequency" : "868300000",
      "timestamp" : 2463457000,
      "time" : "2020-02-12T15:15:45.787Z"
    },
    "consumed_airtime": "0.056576s",
    "locations": {
      "user": {
        "latitude": 37.97155556731436,
        "longitude": 23.72678801175413,
        "altitude": 10,
        "source": "SOURCE_REGISTRY"
      }
    },
    "received_at" : "2020-02-12T15:15:45.789585559Z"
  }
}"""

TTS_JOIN = b"""{
  "end_device_ids": {
    "device_id": "dev1",
    "application_ids": {
      "application_id": "app1"
    },
    "dev_eui": "0004A30B001C0530",
    "join_eui": "800000000000000C",
    "dev_addr": "01497ECC"
  },
  "correlation_ids": [
    "as:up:01E191YN5F2HMBQCBCVRF731VY",
    "gs:conn:01E191S6ZEWB630NTR45K5QN4Q",
    "gs:uplink:01E191YMZ2S7ZRTEGATVE2S3HH",
    "ns:uplink:01E191YMZ2J64K6FEW5F0WE7TQ",
    "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01E191YMZ2KK3TJYG5C4XZP8JK"
  ],
  "received_at": "2020-02-17T07:49:09.935284891Z",
  "join_accept": {
    "session_key_id": "AXBSH1Pk6Z0G166RlH16CQ==",
    "received_at": "2020-02-17T07:49:09.736532315Z"
  }
}"""

CHIRPSTACK_UP = b"""{
	"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
	"time": "2022-07-18T09:34:15.775023242+00:00",
	"deviceInfo": {
		"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
		"tenantName": "ChirpStack",
		"applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
		"applicationName": "Test application",
		"deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
		"deviceProfileName": "Test device-profile",
		"deviceName": "Test device",
		"devEui": "0101010101010101",
		"tags": {
			"key": "value"
		}
	},
	"devAddr": "00189440",
	"dr": 1,
	"fPort": 1,
	"data": "qg==",
	"rxInfo": [{
		"gatewayId": "0016c001f153a14c",
		"uplinkId": 4217106255,
		"rssi": -36,
		"snr": 10.5,
		"context": "E3OWOQ==",
		"metadata": {
			"region_name": "eu868",
			"region_common_name": "EU868"
		}
	}],
	"txInfo": {
		"frequency": 867100000,
		"modulation": {
			"lora": {
				"bandwidth": 125000,
				"spreadingFactor": 11,
				"codeRate": "CR_4_5"
			}
		}
	}
}"""

CHIRPSTACK_JOIN = b"""{
	"deduplicationId": "c9dbe358-2578-4fb7-b295-66b44edc45a6",
	"time": "2022-07-18T09:33:28.823500726+00:00",
	"deviceInfo": {
		"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
		"tenantName": "ChirpStack",
		"applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
		"applicationName": "Test application",
		"deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
		"deviceProfileName": "Test device-profile",
		"deviceName": "Test device",
		"devEui": "0101010101010101",
		"tags": {
			"key": "value"
		}
	},
	"devAddr": "00189440"
}"""


def with_object(body: bytes, obj: dict[str, Any], **changes: Any) -> bytes:
    """ChirpStack's example with a codec's ``object`` (and other fields changed)."""
    doc = orjson.loads(body)
    doc.update(object=obj, **changes)
    return orjson.dumps(doc)


def as_protobuf(body: bytes) -> bytes:
    """The same ``up`` event in ChirpStack's binary encoding (what its Protobuf marshaler
    sends), made with the ``chirpstack-api`` message."""
    from chirpstack_api import integration
    from google.protobuf import json_format

    event = integration.UplinkEvent()
    json_format.Parse(body, event, ignore_unknown_fields=True)
    return bytes(event.SerializeToString())
