"""`python -m orders`: serve OrderService until SIGTERM."""

from meshkit import serving
from orders import server

serving.main("orders", server.DEFAULT_PORT, server.build)
