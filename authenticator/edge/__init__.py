"""The transport-neutral edge: what every transport (REST, gRPC, CLI, admin) shares."""
