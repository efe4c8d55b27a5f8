"""Channels to other services, with gRPC's own retries and our interceptor
(which signs every call with this service's internal token)."""

from __future__ import annotations

import json

import grpc

from meshkit.auth import InternalTokens
from meshkit.config import ConfigError, Settings
from meshkit.interceptors import ClientInterceptor

# Every internal call shopmesh makes is safe to repeat (a read, or a write the
# receiver deduplicates), so UNAVAILABLE is retried with exponential backoff.
# A target may list several instances (`ipv4:127.0.0.1:50052,127.0.0.1:50062`):
# round_robin spreads calls over those whose gRPC health check says SERVING,
# so an instance that is stopping or has lost its database gets no new calls.
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def internal_channel(
    target: str, *, tokens: InternalTokens, default_timeout: float
) -> grpc.Channel:
    channel = grpc.insecure_channel(
        target,
        options=[("grpc.service_config", _SERVICE_CONFIG), ("grpc.enable_retries", 1)],
    )
    return grpc.intercept_channel(channel, ClientInterceptor(tokens, default_timeout))


def to_service(settings: Settings, service: str, default_port: int) -> grpc.Channel:
    """A channel from this service to another, at `<SERVICE>_TARGET`."""
    if settings.auth.signing_key is None:
        raise ConfigError(
            f"{settings.service}: INTERNAL_SIGNING_KEY_FILE is not set, so it cannot sign its "
            f"calls to {service}. `shopmesh run` generates the key in .shopmesh/secrets."
        )
    return internal_channel(
        settings.target(service, default_port),
        tokens=InternalTokens(settings.auth, settings.service),
        default_timeout=settings.call_timeout,
    )
