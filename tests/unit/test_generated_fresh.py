"""generated/ must be what `make protos` makes from protos/ now."""

import filecmp
from pathlib import Path

from tools import gen_protos


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    gen_protos.generate(tmp_path)
    committed = gen_protos.ROOT / "generated"
    assert _files(tmp_path) == _files(committed), "run `make protos`"
    stale = [
        name
        for name in _files(tmp_path)
        if not filecmp.cmp(tmp_path / name, committed / name, shallow=False)
    ]
    assert not stale, f"stale against protos/, run `make protos`: {stale}"


def test_descriptor_set_carries_error_details_for_envoy() -> None:
    from google.protobuf import descriptor_pb2

    descriptors = descriptor_pb2.FileDescriptorSet.FromString(
        (gen_protos.ROOT / "generated" / gen_protos.DESCRIPTOR_SET).read_bytes()
    )
    names = {f.name for f in descriptors.file}
    assert {
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
        "shopmesh/orders/v1/orders.proto",
    } <= names
