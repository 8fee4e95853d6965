"""Print a configuration: every config key and every derived parameter."""

from vta.cli.common import add_config_options, config_from
from vta.cli.output import add_output_options, emit

NAME = "config"
HELP = "print a configuration's keys and derived parameters"


def add_arguments(parser):
    add_config_options(parser)
    add_output_options(parser, quiet=False)


def run(args) -> int:
    config = config_from(args)
    sections = {"keys": config.to_dict(), "derived": config.derived()}
    width = max(len(name) for values in sections.values() for name in values)
    lines = []
    for title, values in sections.items():
        lines.append(f"# {title}")
        lines += [f"{name:<{width}} = {value}" for name, value in values.items()]
    emit(args, sections, "\n".join(lines))
    return 0
