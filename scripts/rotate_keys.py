"""Re-encrypt every stored provider key under the newest `ENCRYPTION_KEY` entry.

    ENCRYPTION_KEY="<new key>,<old key>" python -m scripts.rotate_keys [--batch-size 500]

Run it after every web and worker process already has the new key list (they can then read both
old and new ciphertexts); afterwards the old key can be dropped from the list. Safe to repeat.
Prints `{"rotated": N, "failed": M}`; exits 1 when some key could not be decrypted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    from models.db import Database
    from observability import configure_logging
    from services.keystore import key_ring, rotate_all
    from settings import get_settings

    ap = argparse.ArgumentParser(description="Re-encrypt stored provider keys under the newest ENCRYPTION_KEY.")
    ap.add_argument("--batch-size", type=int, default=500, help="rows re-encrypted per transaction")
    args = ap.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    database = Database().init(settings)
    try:
        counts = rotate_all(database.session, key_ring(settings), batch_size=max(1, args.batch_size))
    finally:
        database.session.remove()
        database.engine.dispose()
    print(json.dumps(counts))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
