"""meshkit's grpc.aio server under a reconnect storm: thousands of streams
opened at once, as the watchers of a restarted Notifications instance do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from meshkit import servers
from tests.support import keys
from tests.support.rpc import as_customer

SERVICE = "test.Waiting"
STREAMS = 3_500  # beyond gRPC's default hard limit of 3,000 pending calls


async def _wait_forever(request: bytes, context: Any) -> AsyncIterator[bytes]:
    await context.send_initial_metadata(())
    await asyncio.Event().wait()
    yield b""


def _register(server: Any) -> list[str]:
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE, {"Wait": grpc.unary_stream_rpc_method_handler(_wait_forever)}
            ),
        )
    )
    return [SERVICE]


async def _open_all(target: str) -> list[grpc.StatusCode | None]:
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(STREAMS // 100)
    ]
    try:
        for channel in channels:
            await channel.channel_ready()
        calls = [
            channels[n % len(channels)].unary_stream(f"/{SERVICE}/Wait")(
                b"", metadata=as_customer(1), timeout=60
            )
            for n in range(STREAMS)
        ]
        await asyncio.gather(*(call.initial_metadata() for call in calls))
        ended = [await call.code() if call.done() else None for call in calls]
        for call in calls:
            call.cancel()
        return ended
    finally:
        for channel in channels:
            await channel.close()


def test_thousands_of_streams_opened_at_once_are_all_taken_up(secrets_dir: object) -> None:
    server = servers.Asynchronous(_register, keys.verifier(), "127.0.0.1:0", 4)
    try:
        ended = asyncio.run(_open_all(f"127.0.0.1:{server.port}"))
    finally:
        server.stop(0)

    assert [code for code in ended if code is not None] == []
