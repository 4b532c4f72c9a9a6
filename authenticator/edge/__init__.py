"""The transport-neutral edge: what every transport (REST, gRPC, the CLI) shares.

- ``client``: the client's address (X-Forwarded-For believed only from trusted proxies)
  and the ``Requester`` a sign-in records;
- ``auth``: a bearer access token → the ``Caller`` (user, session, token);
- ``throttle``: a call counted against a scope's budget for a key (the signed-in user,
  else the client address), shared by every transport;
- ``inputs``: the flows' inputs, validated and normalised (lengths, the code's format,
  phone/email, blank → None) into the keyword arguments of one flow call;
- ``presenters``: flow results as the JSON-ready dicts every transport answers with.

Each transport only adapts: the DRF classes in ``authenticator.api``, the gRPC decorators
in ``authenticator.grpc.calls`` and the commands' base in ``authenticator.management``.
DRF serializers are used here as a validation and presentation library (as allauth's
headless inputs use Django forms); nothing here knows HTTP, gRPC or argv.
"""
