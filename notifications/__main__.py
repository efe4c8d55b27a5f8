"""`python -m notifications`: serve NotificationService until SIGTERM."""

from meshkit import serving
from notifications import server

serving.main("notifications", server.DEFAULT_PORT, server.build)
