import socket


def free_port() -> int:
    """A port nothing listens on now. Servers bind it with SO_REUSEPORT off,
    so in the unlikely case another process takes it first, start-up fails
    loudly instead of two servers sharing it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_base_port(instances: int, stride: int = 10) -> int:
    """A port p such that p, p + stride, ... (one per instance) are all free:
    the layout `shopmesh run` gives a service's instances."""
    for _ in range(50):
        base = free_port()
        ports = [base + n * stride for n in range(instances)]
        if all(_is_free(port) for port in ports[1:]):
            return base
    raise RuntimeError("no run of free ports found")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
