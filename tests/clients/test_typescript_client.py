"""A TypeScript client: openapi-typescript's types for /openapi.json, and a partner's program
(partner.ts: conditional headers, a typed change feed, open enums) that `tsc --strict` accepts."""

import shutil
from pathlib import Path

from tests.clients.conftest import HERE, NODE_MODULES, node_tool, run


def test_a_partner_program_compiles_strict_against_the_generated_types(openapi_file: Path, tmp_path: Path) -> None:
    generate, tsc = node_tool("openapi-typescript"), node_tool("tsc")
    # openapi-typescript's default makes a request field with a default required (openapi-ts issue
    # 1741): a create body would need every defaulted field. `false` types what the document says.
    generated = run([generate, openapi_file, "--default-non-nullable", "false", "-o", tmp_path / "schema.ts"])
    assert generated.returncode == 0, generated.stdout + generated.stderr
    shutil.copy(HERE / "partner.ts", tmp_path)
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    # A .ts file, so the generated types are checked too; skipLibCheck leaves out only the libraries.
    options = ["--noEmit", "--skipLibCheck", "--target", "es2022", "--module", "esnext"]
    options += ["--moduleResolution", "bundler", "--lib", "es2022,dom"]
    compiled = run([tsc, "--strict", *options, "partner.ts"], cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
