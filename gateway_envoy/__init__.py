"""The edge: Envoy in front of the mesh, its config generated from one topology."""
