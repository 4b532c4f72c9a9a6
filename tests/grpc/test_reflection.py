"""Server reflection, v1 and v1alpha, through real reflection clients on a real server.

- v1alpha: grpcio-reflection's own client (``ProtoReflectionDescriptorDatabase``) feeds a
  descriptor pool, from which a call is made with message classes built from reflection
  alone — what grpcurl does.
- v1: a client on the v1 stub generated from upstream's reflection.proto, speaking v1
  messages, that resolves the same descriptors (files and their dependencies by name).
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from authenticator.grpc.reflection_v1 import reflection_pb2 as v1_pb2
from authenticator.grpc.reflection_v1 import reflection_pb2_grpc as v1_pb2_grpc
from authenticator.grpc.v1 import authenticator_pb2 as pb

SERVICES = {"authenticator.v1.Authenticator", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}
OUR_METHODS = {method.name for method in pb.DESCRIPTOR.services_by_name["Authenticator"].methods}


class V1Reflection:
    """A reflection v1 client: one stream per question, v1 messages only."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = v1_pb2_grpc.ServerReflectionStub(channel)

    def ask(self, **question) -> v1_pb2.ServerReflectionResponse:
        answers = list(self.stub.ServerReflectionInfo(iter([v1_pb2.ServerReflectionRequest(**question)]), timeout=10))
        assert len(answers) == 1
        assert type(answers[0]) is v1_pb2.ServerReflectionResponse
        return answers[0]

    def services(self) -> set[str]:
        return {service.name for service in self.ask(list_services="").list_services_response.service}

    def _files(self, answer) -> list[descriptor_pb2.FileDescriptorProto]:
        assert answer.WhichOneof("message_response") == "file_descriptor_response", answer
        return [descriptor_pb2.FileDescriptorProto.FromString(raw)
                for raw in answer.file_descriptor_response.file_descriptor_proto]

    def pool_for(self, symbol: str) -> descriptor_pool.DescriptorPool:
        """A fresh pool holding the file that declares ``symbol`` and everything it imports."""
        files = {f.name: f for f in self._files(self.ask(file_containing_symbol=symbol))}
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()

        def add(name: str) -> None:
            if name in added:
                return
            if name not in files:
                files.update({f.name: f for f in self._files(self.ask(file_by_filename=name))})
            for dependency in files[name].dependency:
                add(dependency)
            pool.Add(files[name])
            added.add(name)

        for name in list(files):
            add(name)
        return pool


@pytest.fixture
def v1(channel) -> V1Reflection:
    return V1Reflection(channel)


def test_the_two_protos_are_the_same_messages_in_two_packages():
    """What serving v1 with the v1alpha implementation rests on (authenticator/grpc/reflection.py)."""

    def shape(file) -> list:
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        return [(m.name, [(f.name, f.number, f.type, f.label, f.type_name.rsplit(".", 1)[-1], f.oneof_index
                           if f.HasField("oneof_index") else None) for f in m.field]) for m in proto.message_type]

    assert shape(v1_pb2.DESCRIPTOR) == shape(v1alpha_pb2.DESCRIPTOR)
    assert len(shape(v1_pb2.DESCRIPTOR)) == 8  # request, response, and the six they hold
    assert v1_pb2.DESCRIPTOR.package == "grpc.reflection.v1"
    assert v1_pb2.DESCRIPTOR.name == "grpc/reflection/v1/reflection.proto"


@pytest.mark.django_db(transaction=True)
def test_v1_lists_the_services_and_describes_ours(v1):
    assert v1.services() == SERVICES
    pool = v1.pool_for("authenticator.v1.Authenticator")
    service = pool.FindServiceByName("authenticator.v1.Authenticator")
    assert {method.name for method in service.methods} == OUR_METHODS
    assert service.file.name == "authenticator/v1/authenticator.proto"
    # It describes itself too, and its messages are v1's.
    reflection = v1.pool_for("grpc.reflection.v1.ServerReflection").FindServiceByName("grpc.reflection.v1.ServerReflection")
    assert reflection.methods_by_name["ServerReflectionInfo"].input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"


@pytest.mark.django_db(transaction=True)
def test_v1_answers_errors_in_v1_messages(v1):
    answer = v1.ask(file_containing_symbol="no.such.Symbol")
    assert answer.WhichOneof("message_response") == "error_response"
    assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert answer.original_request.file_containing_symbol == "no.such.Symbol"


@pytest.mark.django_db(transaction=True)
def test_v1alpha_through_grpcio_reflections_client_and_a_call_made_from_reflection_alone(channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    assert set(database.get_services()) == SERVICES
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName("authenticator.v1.Authenticator")
    assert {method.name for method in service.methods} == OUR_METHODS

    # A client that knows only what reflection said: GetProfile without a token.
    method = service.methods_by_name["GetProfile"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary(f"/{service.full_name}/{method.name}", request_serializer=request_class.SerializeToString,
                               response_deserializer=response_class.FromString)
    with pytest.raises(grpc.RpcError) as failed:
        call(request_class(), timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
