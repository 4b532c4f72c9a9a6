"""Messages that can't be parsed are INVALID_ARGUMENT / malformed_request on every method.

grpc itself answers a request its deserializer refuses with INTERNAL and no code — the
gRPC face of a 500. Groups nested past protobuf's recursion limit are such a request.
"""

from __future__ import annotations

import grpc
import pytest

from authenticator.grpc.servicer import SERVICE_NAME
from authenticator.grpc.v1 import authenticator_pb2 as pb

pytestmark = pytest.mark.django_db(transaction=True)

METHODS = [m.name for m in pb.DESCRIPTOR.services_by_name["Authenticator"].methods]


def nested_groups(depth: int) -> bytes:
    # Field 15 as a group (wire types 3 and 4), unknown to every message, nested.
    return b"\x7b" * depth + b"\x7c" * depth


HOSTILE = {
    "groups-200": nested_groups(200),
    "groups-5000": nested_groups(5000),
    "truncated-varint": b"\x08\xff\xff\xff",
    "unterminated-group": b"\x7b" * 10,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("method", METHODS)
def test_unparseable_message_is_malformed_request(channel, method, name):
    call = channel.unary_unary(f"/{SERVICE_NAME}/{method}")
    with pytest.raises(grpc.RpcError) as info:
        call(HOSTILE[name], timeout=10)
    metadata = {m.key: m.value for m in info.value.trailing_metadata() or () if not m.key.endswith("-bin")}
    assert (info.value.code(), metadata.get("code")) == (grpc.StatusCode.INVALID_ARGUMENT, "malformed_request"), (
        method, name, info.value.details())


def test_shallow_unknown_groups_are_still_ignored(channel):
    # Unknown fields a newer client sends are skipped, as protobuf always does.
    call = channel.unary_unary(f"/{SERVICE_NAME}/RequestOtp")
    body = pb.RequestOtpRequest(phone_number="+447400123456").SerializeToString() + nested_groups(3)
    answer = pb.OtpSent.FromString(call(body, timeout=10))
    assert answer.channel == "sms"
