"""`python -m shipping`: serve ShippingService until SIGTERM."""

from meshkit import serving
from shipping import server

serving.main("shipping", server.DEFAULT_PORT, server.build)
