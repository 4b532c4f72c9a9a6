from django.apps import AppConfig


class GrpcConfig(AppConfig):
    """The gRPC transport as its own app, so it owns its command (``manage.py grpcserver``)
    and the CLI's commands (authenticator.management) never import it."""

    name = "authenticator.grpc"
    label = "authenticator_grpc"
    verbose_name = "Authenticator gRPC"
