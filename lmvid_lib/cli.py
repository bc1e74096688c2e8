"""The `lmvid` console script.

    lmvid prepare bbc|bair|kth|video --src PATH --dst PATH [--force] [--no-progress] [dataset options]
    lmvid describe bbc|bair|kth|video PATH
    lmvid run [--profile P] [--run-dir DIR] [--only 02,03] [--param NB.KEY=VALUE ...] [--force] [--no-html]
              [--plan] [--budget HOURS]
    lmvid export-web --run-dir DIR --out DIR [--profile NAME]

Dataset options are the fields of `prepare.BBCOptions` / `BAIROptions` / `KTHOptions` / `video.VideoOptions` as flags
(`--out-size 128`), generated from the dataclasses so the CLI and the library cannot drift apart. `lmvid run` is
`lmvid_lib.publish.runner`, `lmvid export-web` (the browser playground's ONNX models) `lmvid_lib.publish.web`.
A subcommand is one entry of `COMMANDS`: its help, a function adding its arguments, one running it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from lmvid_lib.data import prepare
from lmvid_lib.data.datasets import REAL
from lmvid_lib.publish import runner, web


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


def _prepare_arguments(parser: argparse.ArgumentParser) -> None:
    datasets = parser.add_subparsers(dest="dataset", required=True)
    for name, options_cls in prepare.OPTIONS.items():
        sub = datasets.add_parser(name, help=(getattr(prepare, f"prepare_{name}").__doc__ or "").splitlines()[0])
        sub.add_argument("--src", required=True, help="folder of the original files")
        sub.add_argument("--dst", required=True, help="folder of the prepared set (created atomically)")
        sub.add_argument("--force", action="store_true", help="rebuild even if dst is already prepared")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        _add_option_flags(sub, options_cls)


def _prepare(args: argparse.Namespace) -> int:
    options = vars(args)
    dataset, src, dst = options.pop("dataset"), options.pop("src"), options.pop("dst")
    force, progress = options.pop("force"), not options.pop("no_progress")
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    out = prepare.prepare(dataset, src, dst, force=force, progress=progress, **options)
    print(prepare.describe(dataset, out))
    return 0


def _describe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=REAL)
    parser.add_argument("data_root")


def _describe(args: argparse.Namespace) -> int:
    print(prepare.describe(args.dataset, args.data_root))
    return 0


COMMANDS = {
    "prepare": ("convert an original dataset into the prepared format", _prepare_arguments, _prepare),
    "describe": ("summarise a prepared set (markdown)", _describe_arguments, _describe),
    "run": (
        "execute the book's notebooks (resuming), write the run manifest, build the HTML book",
        runner.add_arguments,
        runner.run_parsed,
    ),
    "export-web": ("export a run's decoders to ONNX for the browser playground", web.add_arguments, web.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmvid", description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    *_, command = COMMANDS[args.__dict__.pop("command")]
    try:
        return command(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"lmvid: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
