"""The `shopmesh` command: database set-up, demo data, and running the mesh."""
