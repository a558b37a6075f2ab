"""Regenerate sdk_vectors.json: Authorization headers computed by the official SDK's own signer.

    python tests/api/make_sdk_vectors.py > tests/api/sdk_vectors.json

Each case is signed with ``alibabacloud_tea_openapi.utils.Utils.get_authorization`` (the function the
SDK's ``do_request`` calls) over the headers the SDK's ``do_request`` would hold at signing time. The frozen file keeps
the acceptance check meaningful if the SDK is ever missing; test_signing_sdk.py also compares live.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from signing_cases import CASES, sdk_headers


def main() -> None:
    vectors = [{**case, "authorization": sdk_headers(case)["Authorization"]} for case in CASES]
    json.dump(vectors, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
