"""What every shopmesh service shares: configuration, logging, the caller's
identity, errors, database sessions, interceptors, serving and the outbox.

It knows no service: services import it, never the other way round.
"""
