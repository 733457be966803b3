"""python-tuf ngclient as an independent TUF client for interop tests.

usage: python_client.py METADATA_URL TARGETS_URL TRUSTED_ROOT CACHE_DIR DOWNLOAD_DIR [TARGET...]

Refreshes the metadata (walking the root chain from TRUSTED_ROOT), downloads every named target
(verified by length and hashes) and prints one JSON object on stdout:
{"root_version": N, "targets_version": N, "downloaded": {"name": "sha256"}}.
"""
import hashlib
import json
import os
import shutil
import sys

from tuf.ngclient import Updater


def main() -> None:
    metadata_url, targets_url, trusted_root, cache_dir, download_dir, *names = sys.argv[1:]
    os.makedirs(cache_dir, exist_ok=True)
    os.makedirs(download_dir, exist_ok=True)
    if not os.path.exists(os.path.join(cache_dir, "root.json")):
        shutil.copyfile(trusted_root, os.path.join(cache_dir, "root.json"))
    updater = Updater(cache_dir, metadata_url, download_dir, targets_url)
    updater.refresh()
    downloaded = {}
    for name in names:
        info = updater.get_targetinfo(name)
        if info is None:
            raise SystemExit(f"target {name} not found")
        path = updater.download_target(info, os.path.join(download_dir, name.replace("/", "_")))
        with open(path, "rb") as f:
            downloaded[name] = hashlib.sha256(f.read()).hexdigest()
    trusted = updater._trusted_set  # read-only peek: the versions the client settled on
    print(json.dumps({
        "root_version": trusted.root.version,
        "targets_version": trusted.targets.version,
        "downloaded": downloaded,
    }))


if __name__ == "__main__":
    main()
