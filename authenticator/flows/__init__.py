"""The service layer: one typed function per flow, called by REST, gRPC and the CLI."""
