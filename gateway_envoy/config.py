"""The Envoy bootstrap, generated from the topology: nothing in it is written
by hand, so ports, instances and routes cannot drift apart.

Request path through the HTTPS listener's filters:

  header_mutation  remembers the original method for the access log, adds the
                   security headers to every response (local replies included)
  jwt_authn        verifies the bearer token (RS256, local JWKS, issuer,
                   audience, expiry) and forwards it; /docs needs none
  rbac             staff-only operations need role ops or admin
  buffer           the request body limit (413)
  grpc_json_transcoder  REST/JSON <-> gRPC for every annotated RPC
  local_ratelimit  a token bucket per RPC (429 with retry-after)
  router           per-RPC timeout and retries, to health-checked clusters

Every local reply Envoy itself makes (missing token, rate limited, no route,
body too large, upstream down, bad JSON) is rewritten to the same JSON error
shape the transcoder gives gRPC errors: {"code", "message", "details"}, with
`code` the gRPC code that corresponds to the HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gateway_envoy.docs_site import StaticFile
from gateway_envoy.methods import Method
from gateway_envoy.topology import EdgeFiles, Service, Topology

JWT_FILTER = "envoy.filters.http.jwt_authn"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
RATE_LIMIT = "envoy.filters.http.local_ratelimit"
BUFFER = "envoy.filters.http.buffer"
PROVIDER = "shopmesh_edge"
# HTTP status of a local reply -> the google.rpc.Code its JSON body carries.
LOCAL_REPLY_CODES = {
    400: 3,  # INVALID_ARGUMENT: malformed JSON, a wrong type, an unknown field
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND: no such route
    413: 3,  # INVALID_ARGUMENT: body too large
    429: 8,  # RESOURCE_EXHAUSTED: rate limited
    503: 14,  # UNAVAILABLE: no healthy instance, circuit open
    504: 4,  # DEADLINE_EXCEEDED
}
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
DEFAULT_TIMEOUT = "10s"
# How long one try of a unary RPC may take. The service is told a little
# less as its deadline (Envoy sends none of its own), so that it gives up,
# rolls back and answers DEADLINE_EXCEEDED itself before Envoy cuts the try.
PER_TRY_TIMEOUT_MS = 3000
SERVICE_DEADLINE_MS = PER_TRY_TIMEOUT_MS - 100


def bootstrap(
    topology: Topology, files: EdgeFiles, methods: Sequence[Method], docs: Sequence[StaticFile]
) -> dict[str, Any]:
    edge = topology.edge
    return {
        "admin": {"address": _address(edge.host, edge.admin_port)},
        "static_resources": {
            "listeners": [
                _https_listener(topology, files, methods, docs),
                _redirect_listener(topology),
            ],
            "clusters": [_cluster(service) for service in topology.services],
        },
    }


# -- listeners ---------------------------------------------------------------


def _https_listener(
    topology: Topology, files: EdgeFiles, methods: Sequence[Method], docs: Sequence[StaticFile]
) -> dict[str, Any]:
    edge = topology.edge
    manager = {
        "@type": _HCM,
        "stat_prefix": "edge",
        "codec_type": "AUTO",
        # Neither add a `server: envoy` banner nor pass one on.
        "server_header_transformation": "PASS_THROUGH",
        "use_remote_address": True,
        "access_log": [_access_log()],
        "local_reply_config": _local_replies(),
        "route_config": {
            "name": "edge",
            "max_direct_response_body_size_bytes": 4 * 1024 * 1024,
            "virtual_hosts": [
                {
                    "name": "shopmesh",
                    "domains": ["*"],
                    "routes": [
                        *_docs_routes(docs),
                        *_rpc_routes(topology, methods),
                        _reflection_route(topology),
                    ],
                }
            ],
        },
        "http_filters": [
            _headers_filter(),
            _jwt_filter(topology, files),
            _rbac_filter(methods),
            {
                # The whole body, however it arrives in chunks, counts against
                # the limit (the transcoder's own limit is per buffered chunk).
                "name": BUFFER,
                "typed_config": {
                    "@type": _BUFFER,
                    "max_request_bytes": topology.edge.max_body_bytes,
                },
            },
            _transcoder_filter(topology, files),
            {
                "name": RATE_LIMIT,
                "typed_config": {"@type": _RATE_LIMIT, "stat_prefix": "edge_rate_limit"},
            },
            {
                "name": "envoy.filters.http.router",
                # No x-envoy-upstream-service-time and the like towards clients.
                "typed_config": {"@type": _ROUTER, "suppress_envoy_headers": True},
            },
        ],
    }
    return {
        "name": "https",
        "address": _address(edge.host, edge.https_port),
        "filter_chains": [
            {
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": _DOWNSTREAM_TLS,
                        "common_tls_context": {
                            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                            "alpn_protocols": ["h2", "http/1.1"],
                            "tls_certificates": [
                                {
                                    "certificate_chain": {"filename": str(files.certificate)},
                                    "private_key": {"filename": str(files.private_key)},
                                }
                            ],
                        },
                    },
                },
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ],
            }
        ],
    }


def _redirect_listener(topology: Topology) -> dict[str, Any]:
    edge = topology.edge
    return {
        "name": "http",
        "address": _address(edge.host, edge.http_port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": _HCM,
                            "stat_prefix": "redirect",
                            "server_header_transformation": "PASS_THROUGH",
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "redirect",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/"},
                                                "redirect": {
                                                    "https_redirect": True,
                                                    "port_redirect": edge.https_port,
                                                },
                                            }
                                        ],
                                    }
                                ]
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {"@type": _ROUTER},
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


# -- routes ------------------------------------------------------------------


def _docs_routes(docs: Sequence[StaticFile]) -> list[dict[str, Any]]:
    return [
        {
            "match": {"path": page.url_path},
            "direct_response": {"status": 200, "body": {"filename": str(page.file)}},
            "response_headers_to_add": [
                {"header": {"key": "content-type", "value": page.content_type}}
            ],
            # Static files: no token, no transcoding.
            "typed_per_filter_config": {TRANSCODER: _DISABLED},
        }
        for page in docs
    ]


def _rpc_routes(topology: Topology, methods: Sequence[Method]) -> list[dict[str, Any]]:
    """One route per RPC (the transcoder rewrites REST paths to these), so
    each RPC has its own timeout, retry policy and rate-limit bucket."""
    by_grpc = {service.grpc_service: service for service in topology.services}
    routes = []
    for method in methods:
        action: dict[str, Any] = {
            "cluster": by_grpc[method.grpc_service].name,
            # A stream lasts as long as its client wants it.
            "timeout": "0s" if method.server_streaming else DEFAULT_TIMEOUT,
            "retry_policy": _retry_policy(method),
        }
        route: dict[str, Any] = {
            "match": {"path": method.path},
            "route": action,
            "typed_per_filter_config": {RATE_LIMIT: _bucket(method, topology.edge.rate_per_second)},
        }
        if method.server_streaming:
            action["idle_timeout"] = "3600s"
        else:
            # A gRPC client's own deadline stands; REST calls get this one.
            route["request_headers_to_add"] = [
                {
                    "header": {"key": "grpc-timeout", "value": f"{SERVICE_DEADLINE_MS}m"},
                    "append_action": "ADD_IF_ABSENT",
                }
            ]
        routes.append(route)
    return routes


def _reflection_route(topology: Topology) -> dict[str, Any]:
    """So that `grpcurl -insecure <edge> list|describe|<call>` works. Orders
    answers: its descriptor pool holds all three contracts (it calls the other
    two), and the calls grpcurl then makes are routed by their own paths."""
    return {
        "match": {"prefix": "/grpc.reflection."},
        "route": {"cluster": topology.services[0].name, "timeout": DEFAULT_TIMEOUT},
        # Reflection is a bidirectional stream: it cannot wait for a whole body.
        "typed_per_filter_config": {
            BUFFER: {"@type": _BUFFER_PER_ROUTE, "disabled": True},
        },
    }


def _retry_policy(method: Method) -> dict[str, Any]:
    # A request that never reached an instance is always safe to send again;
    # one that may have been applied only when the RPC is idempotent.
    retry_on = ["connect-failure", "refused-stream"]
    if method.idempotent:
        retry_on += ["reset", "unavailable", "cancelled"]
    return {
        "retry_on": ",".join(retry_on),
        "num_retries": 2,
        "per_try_timeout": "0s" if method.server_streaming else f"{PER_TRY_TIMEOUT_MS / 1000}s",
        "retry_back_off": {"base_interval": "0.025s", "max_interval": "0.25s"},
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {"@type": _PREVIOUS_HOSTS},
            }
        ],
        "host_selection_retry_max_attempts": 3,
    }


def _bucket(method: Method, per_second: int) -> dict[str, Any]:
    return {
        "@type": _RATE_LIMIT,
        "stat_prefix": f"rate_limit_{method.name}",
        "token_bucket": {
            "max_tokens": per_second,
            "tokens_per_fill": per_second,
            "fill_interval": "1s",
        },
        "filter_enabled": _ALWAYS("local_rate_limit_enabled"),
        "filter_enforced": _ALWAYS("local_rate_limit_enforced"),
        "response_headers_to_add": [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {"key": "retry-after", "value": "1"},
            }
        ],
    }


# -- filters -----------------------------------------------------------------


def _headers_filter() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": _HEADER_MUTATION,
            "mutations": {
                "request_mutations": [
                    {
                        "append": {
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                            # The transcoder turns every REST call into a POST;
                            # the access log wants what the client sent.
                            "header": {"key": "x-shopmesh-method", "value": "%REQ(:METHOD)%"},
                        }
                    }
                ],
                "response_mutations": [
                    {
                        "append": {
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                            "header": {"key": key, "value": value},
                        }
                    }
                    for key, value in SECURITY_HEADERS.items()
                ],
            },
        },
    }


def _jwt_filter(topology: Topology, files: EdgeFiles) -> dict[str, Any]:
    edge = topology.edge
    return {
        "name": JWT_FILTER,
        "typed_config": {
            "@type": _JWT,
            "providers": {
                PROVIDER: {
                    "issuer": edge.issuer,
                    "audiences": [edge.audience],
                    "local_jwks": {"filename": str(files.jwks)},
                    # The services verify the token again themselves.
                    "forward": True,
                    "payload_in_metadata": "jwt_payload",
                    "clock_skew_seconds": 30,
                    # A client sends the same token on every call until it
                    # expires: verify its RS256 signature once. A cached token
                    # is checked against its expiry on every lookup.
                    "jwt_cache_config": {"jwt_cache_size": 10_000},
                }
            },
            "rules": [
                {"match": {"prefix": "/docs"}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": PROVIDER}},
            ],
        },
    }


def _rbac_filter(methods: Sequence[Method]) -> dict[str, Any]:
    staff_only = {"or_rules": {"rules": list(_requests_for(m for m in methods if m.staff_only))}}
    staff = {
        "or_ids": {
            "ids": [
                {
                    "sourced_metadata": {
                        "metadata_matcher": {
                            "filter": JWT_FILTER,
                            "path": [{"key": "jwt_payload"}, {"key": "role"}],
                            "value": {"string_match": {"exact": role}},
                        }
                    }
                }
                for role in ("ops", "admin")
            ]
        }
    }
    return {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": _RBAC,
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "staff-operations": {"permissions": [staff_only], "principals": [staff]},
                    "everything-else": {
                        "permissions": [{"not_rule": staff_only}],
                        "principals": [{"any": True}],
                    },
                },
            },
        },
    }


def _requests_for(methods: Iterable[Method]) -> Iterable[dict[str, Any]]:
    """RBAC permissions matching a method called natively or over REST."""
    for method in methods:
        yield {"url_path": {"path": {"exact": method.path}}}
        for binding in method.bindings:
            yield {
                "and_rules": {
                    "rules": [
                        {"header": {"name": ":method", "string_match": {"exact": binding.verb}}},
                        {"url_path": {"path": {"safe_regex": {"regex": binding.path_regex}}}},
                    ]
                }
            }


def _transcoder_filter(topology: Topology, files: EdgeFiles) -> dict[str, Any]:
    return {
        "name": TRANSCODER,
        "typed_config": {
            "@type": _TRANSCODER,
            "proto_descriptor": str(files.descriptor_set),
            "services": [service.grpc_service for service in topology.services],
            "print_options": {"preserve_proto_field_names": True},
            "convert_grpc_status": True,
            "max_request_body_size": topology.edge.max_body_bytes,
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
            },
        },
    }


def _local_replies() -> dict[str, Any]:
    mappers = [
        {
            "filter": _status_is(status),
            "body_format_override": _error_body(code),
        }
        for status, code in LOCAL_REPLY_CODES.items()
    ]
    # Anything else Envoy answers with an error: UNKNOWN (2).
    mappers.append({"filter": _status_is(400, "GE"), "body_format_override": _error_body(2)})
    return {"mappers": mappers}


def _error_body(code: int) -> dict[str, Any]:
    return {
        "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []},
        "content_type": "application/json",
    }


def _status_is(status: int, op: str = "EQ") -> dict[str, Any]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": op,
                "value": {"default_value": status, "runtime_key": f"local_reply_{op}_{status}"},
            }
        }
    }


def _access_log() -> dict[str, Any]:
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": _STDOUT_LOG,
            "log_format": {
                "json_format": {
                    "time": "%START_TIME%",
                    "method": "%REQ(X-SHOPMESH-METHOD)%",
                    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "status": "%RESPONSE_CODE%",
                    "grpc_status": "%GRPC_STATUS_NUMBER%",
                    "duration_ms": "%DURATION%",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "upstream": "%UPSTREAM_HOST%",
                    "flags": "%RESPONSE_FLAGS%",
                    "details": "%RESPONSE_CODE_DETAILS%",
                }
            },
        },
    }


# -- clusters ----------------------------------------------------------------


def _cluster(service: Service) -> dict[str, Any]:
    return {
        "name": service.name,
        "type": "STATIC",
        "connect_timeout": "0.5s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": service.name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _address(i.host, i.port)}}
                        for i in service.instances
                    ]
                }
            ],
        },
        "health_checks": [
            {
                "timeout": "0.5s",
                "interval": "1s",
                "no_traffic_interval": "1s",
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "grpc_health_check": {},
            }
        ],
        "outlier_detection": {
            "consecutive_5xx": 5,
            "consecutive_gateway_failure": 2,
            "interval": "1s",
            "base_ejection_time": "5s",
            "max_ejection_percent": 50,
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": 1024,
                    "max_pending_requests": 1024,
                    "max_requests": 1024,
                    "max_retries": 16,
                }
            ]
        },
        # Every instance unhealthy is an outage, answered 503, not a reason
        # to send traffic to instances known to be down.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _ALWAYS(runtime_key: str) -> dict[str, Any]:
    return {
        "runtime_key": runtime_key,
        "default_value": {"numerator": 100, "denominator": "HUNDRED"},
    }


_DISABLED = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
_BUFFER_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
_JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
_TRANSCODER = (
    "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder"
)
_RATE_LIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
_HEADER_MUTATION = (
    "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
)
_DOWNSTREAM_TLS = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
_STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_PREVIOUS_HOSTS = (
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)
