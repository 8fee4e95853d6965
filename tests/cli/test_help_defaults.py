"""Every default a --help text states is the one the command uses."""

import argparse
import re

import pytest

from vta.cli import build_parser


def parsers(parser: argparse.ArgumentParser, prog: str = "vta"):
    """(prog, parser) of `parser` and every sub-command under it."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{prog} {name}")


def options():
    for prog, parser in parsers(build_parser()):
        for action in parser._actions:
            if action.help and action.help is not argparse.SUPPRESS:
                yield prog, parser, action


OPTIONS = list(options())


@pytest.mark.parametrize("prog, parser, action", OPTIONS,
                         ids=[f"{prog} {'/'.join(action.option_strings) or action.dest}"
                              for prog, _, action in OPTIONS])
def test_stated_defaults_are_the_real_ones(prog, parser, action):
    text = parser._get_formatter()._expand_help(action)
    stated = re.findall(r"default:? ([^;)]+)", text)
    real = action.default
    if real is None or real is False or real is argparse.SUPPRESS or real == [] \
            or isinstance(action, argparse._StoreFalseAction):
        # no argparse default: the help must not claim a value argparse would supply (the
        # command decides; those cases are checked one by one below)
        return
    if isinstance(real, list):
        real = " ".join(map(str, real))
    assert stated, f"{prog} {action.option_strings}: default {real!r} not stated in {text!r}"
    assert any(str(real) in claim or claim.startswith(str(real)) for claim in stated), \
        f"{prog} {action.option_strings}: states {stated}, uses {real!r}"


def help_of(argv: list[str], option: str) -> str:
    parser = dict(parsers(build_parser()))[" ".join(["vta", *argv])]
    action = next(a for a in parser._actions if option in a.option_strings)
    return parser._get_formatter()._expand_help(action)


def test_roofline_runs_on_the_cycle_backend_by_default():
    args = build_parser().parse_args(["roofline", "case", "-o", "plot.png"])
    assert args.backend == "cycle" and "default: cycle" in help_of(["roofline"], "--backend")


@pytest.mark.parametrize("subcommand", ["synth", "project"])
def test_fpga_config_defaults_to_the_boards_preset(subcommand):
    from vta.cli.fpga import _board_config
    from vta.fpga.boards import BOARDS

    assert "default: the board's preset" in help_of(["fpga", subcommand], "--preset")
    for name, board in BOARDS.items():
        args = build_parser().parse_args(["fpga", subcommand, "--board", name, "-o", "x"]
                                         if subcommand == "project" else
                                         ["fpga", subcommand, "--board", name])
        assert _board_config(args)[1] == board.default_config()


def test_other_commands_default_to_pynq():
    from vta.cli.common import config_from
    from vta.isa import Config

    assert "default: pynq" in help_of(["config"], "--preset")
    assert config_from(build_parser().parse_args(["config"])) == Config.preset("pynq")
