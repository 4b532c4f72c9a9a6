"""gRPC server reflection, both versions: ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcio-reflection (1.85.1) implements only v1alpha, while current tools (grpcurl, grpcui,
Postman, grpc-go/-java clients) ask for v1 first. The two protos are the same messages,
field for field and number for number, in two packages (tests/grpc/test_reflection.py
holds them to it), so the same bytes are a valid request and answer in both. v1 is served
by grpcio-reflection's own servicer, under the v1 service name, with the v1alpha messages
doing the (identical) decoding and encoding; the v1 descriptor, generated from upstream's
reflection.proto (proto/grpc/reflection/v1, pinned in UPSTREAM there), is registered so
that reflection describes the v1 service itself too.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_pb2_grpc

from .reflection_v1 import reflection_pb2 as v1_pb2

V1_SERVICE_NAME = v1_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1ALPHA_SERVICE_NAME = v1alpha.SERVICE_NAME


def enable_server_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection v1 and v1alpha for ``service_names`` (and for themselves)."""
    servicer = v1alpha.ReflectionServicer((*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME))
    v1alpha_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
            response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
        ),
    })
    server.add_generic_rpc_handlers((v1,))
