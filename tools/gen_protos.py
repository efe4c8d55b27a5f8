"""Regenerate `generated/` from `protos/`: messages, gRPC stubs, .pyi stubs,
the descriptor set Envoy's transcoder reads and the OpenAPI document of the
routes it serves (`tools/gen_openapi.py`).

Run through `make protos`. `tests/unit/test_generated_fresh.py` runs the same
generation into a temporary folder and fails when `generated/` differs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

if not __package__:
    # Run as `python tools/gen_protos.py` (make protos): tools/ is on sys.path, the root is not.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import gen_openapi

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
VENDORED = ROOT / "third_party" / "googleapis"
# google/protobuf/*.proto ship inside grpc_tools.
WELL_KNOWN = Path(protoc.__file__).parent / "_proto"
DESCRIPTOR_SET = "shopmesh.binpb"
# Envoy needs these in the descriptor set to turn error details into JSON.
EXTRA_DESCRIPTOR_INPUTS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def own_protos() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def _protoc(args: list[str]) -> None:
    includes = [f"-I{PROTOS}", f"-I{VENDORED}", f"-I{WELL_KNOWN}"]
    code = protoc.main(["grpc_tools.protoc", *includes, *args])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}) on {args[-1]}")


def generate(out: Path) -> None:
    """Write the whole `generated/` tree into `out`, which must be empty."""
    sources = own_protos()
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    _protoc(
        [
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            f"--plugin=protoc-gen-mypy_grpc={plugin}",
            f"--mypy_grpc_out={out}",
            *sources,
        ]
    )
    _protoc(
        [
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out / DESCRIPTOR_SET}",
            *sources,
            *EXTRA_DESCRIPTOR_INPUTS,
        ]
    )
    gen_openapi.write(out / DESCRIPTOR_SET, out / gen_openapi.OPENAPI_FILE)
    # Regular packages, so that `shopmesh.orders.v1` resolves to generated/
    # alone and nothing else named `shopmesh` can merge into it.
    for package in {out / Path(s).parent for s in sources}:
        while package != out:
            (package / "__init__.py").touch()
            package = package.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.copytree(scratch, args.out)
    print(f"generated {len(own_protos())} protos into {args.out}")


if __name__ == "__main__":
    main()
