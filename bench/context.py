"""What every stage of the bench works with."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bench.calls import CustomerTokens
from bench.data import Catalogue
from bench.mesh import Mesh


@dataclass(frozen=True)
class Context:
    # The bench's own connections: preparing data and reading results, never
    # while a load runs, except polling the outboxes after one (a query every
    # 15 ms; its backend's CPU time is taken out of the mesh's cost).
    engine: Engine
    mesh: Mesh
    catalogue: Catalogue
    tokens: CustomerTokens
    # The PostgreSQL server's main process, None when it runs elsewhere.
    postmaster: int | None
    # Whether others may use that server too (DATABASE_URL): its CPU time
    # then includes theirs.
    shared_server: bool

    def cpu_roots(self) -> dict[str, int]:
        """Process trees whose CPU time makes up the mesh's cost."""
        roots = {instance.label: instance.pid for instance in self.mesh.instances}
        if self.postmaster is not None:
            roots["postgres"] = self.postmaster
        return roots
