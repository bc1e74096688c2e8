"""The `lmvid` console script.

    lmvid prepare bbc|bair|kth --src PATH --dst PATH [--force] [--no-progress] [dataset options]
    lmvid describe bbc|bair|kth PATH
    lmvid export-web --run-dir DIR --out DIR   (lmvid_lib/export.py: the browser playground's models)

Dataset options are the fields of `prepare.BBCOptions` / `BAIROptions` / `KTHOptions` as flags (`--out-size 128`),
generated from the dataclasses so the CLI and the library cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from lmvid_lib import export
from lmvid_lib.data import prepare


def _add_option_flags(parser: argparse.ArgumentParser, options_cls: type) -> None:
    hints = typing.get_type_hints(options_cls)
    for field in dataclasses.fields(options_cls):
        flag = "--" + field.name.replace("_", "-")
        hint = hints[field.name]
        args = typing.get_args(hint)
        kwargs: dict[str, typing.Any] = {
            "dest": field.name,
            "default": argparse.SUPPRESS,
            "help": f"default: {field.default}",
        }
        if typing.get_origin(hint) is tuple:
            kwargs.update(nargs="+", type=args[0])
        elif type(None) in args:  # Optional[X]
            kwargs["type"] = next(a for a in args if a is not type(None))
        else:
            kwargs["type"] = hint
        parser.add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmvid", description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="convert an original dataset into the prepared format")
    datasets = prep.add_subparsers(dest="dataset", required=True)
    for name, options_cls in prepare.OPTIONS.items():
        sub = datasets.add_parser(name, help=(getattr(prepare, f"prepare_{name}").__doc__ or "").splitlines()[0])
        sub.add_argument("--src", required=True, help="folder of the original files")
        sub.add_argument("--dst", required=True, help="folder of the prepared set (created atomically)")
        sub.add_argument("--force", action="store_true", help="rebuild even if dst is already prepared")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        _add_option_flags(sub, options_cls)
    desc = commands.add_parser("describe", help="summarise a prepared set (markdown)")
    desc.add_argument("dataset", choices=prepare.DATASETS)
    desc.add_argument("data_root")
    export.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    command = args.pop("command")
    if command == "export-web":
        return export.run(argparse.Namespace(**args))
    try:
        if command == "describe":
            print(prepare.describe(args["dataset"], args["data_root"]))
            return 0
        dataset, src, dst = args.pop("dataset"), args.pop("src"), args.pop("dst")
        force, progress = args.pop("force"), not args.pop("no_progress")
        for key, value in args.items():
            if isinstance(value, list):
                args[key] = tuple(value)
        out = prepare.prepare(dataset, src, dst, force=force, progress=progress, **args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"lmvid: error: {exc}", file=sys.stderr)
        return 1
    print(prepare.describe(dataset, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
