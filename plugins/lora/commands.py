"""`harness adapters list` and `harness adapters export KEY DEST`."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def _store(args: argparse.Namespace) -> Any:
    from harness.plan import default_cache_dir
    from harness.plugins.lora.store import AdapterStore

    return AdapterStore(args.cache_dir or default_cache_dir())


def _list(args: argparse.Namespace) -> int:
    adapters = _store(args).list()
    if not adapters:
        print(f"no adapters in {_store(args).root}")
        return 0
    for adapter in adapters:
        identity = adapter.meta.get("identity", {})
        training = adapter.meta.get("training", {})
        print(
            f"{adapter.key}  {identity.get('strategy', '?')}:{adapter.meta.get('adapter', '?')}  "
            f"base={identity.get('base_model', '?')}  data={identity.get('dataset', '?')}  "
            f"r={identity.get('settings', {}).get('r', '?')}  steps={training.get('steps', '?')}  "
            f"{training.get('seconds', '?')} s"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    store = _store(args)
    adapter = store.find(args.key)
    destination = Path(args.destination)
    if destination.exists() and not destination.is_dir():
        raise HarnessError(f"{destination}: exists and is not a folder")
    if destination.exists() and any(destination.iterdir()):
        raise HarnessError(f"{destination}: exists and is not empty")
    if destination.resolve().is_relative_to(store.root.resolve()):
        raise HarnessError(f"{destination}: is inside the adapter cache {store.root}")
    # Only the adapter's own regular files leave the cache: a link could point anywhere.
    for item in sorted(adapter.path.rglob("*")):
        if item.is_symlink() or not (item.is_file() or item.is_dir()):
            raise HarnessError(f"{item}: not a regular file; the adapter is not exported")
    shutil.copytree(adapter.path, destination, dirs_exist_ok=True)
    print(f"exported {adapter.key} to {destination} (load with PeftModel.from_pretrained)")
    return 0


def add_commands(cli: Any) -> None:
    parser = cli.add_parser("adapters", help="trained LoRA adapters in the cache")
    sub = parser.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="cached adapters, one line each")
    listing.set_defaults(handler=_list)
    export = sub.add_parser("export", help="copy an adapter folder where you want it")
    export.add_argument("key", help="adapter key (or a unique prefix of it)")
    export.add_argument("destination", help="folder to write (must be new or empty)")
    export.set_defaults(handler=_export)
    for p in (listing, export):
        p.add_argument(
            "--cache-dir", type=Path, help="default: $HARNESS_CACHE_DIR or ~/.cache/harness"
        )
