"""The gRPC transport: the service of proto/authenticator/v1, over the same flows as REST."""
