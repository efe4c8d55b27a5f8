from meshkit import config
from tests.support import keys
from tests.support.ports import free_port


def for_service(name: str, database_url: str, **env: str) -> config.Settings:
    """Settings as a service would read them, on a free port, trusting and
    signing with the test session's keys."""
    return config.load(
        name,
        0,
        {
            "DATABASE_URL": database_url,
            "GRPC_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            **keys.service_env(),
            **env,
        },
    )
