"""Print a configuration: every config key and every derived parameter."""

import json

from vta.cli.common import add_config_options, config_from

NAME = "config"
HELP = "print a configuration's keys and derived parameters"


def add_arguments(parser):
    add_config_options(parser)
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"keys": {...}, "derived": {...}}')


def run(args) -> int:
    config = config_from(args)
    sections = {"keys": config.to_dict(), "derived": config.derived()}
    if args.json:
        print(json.dumps(sections, indent=1))
        return 0
    width = max(len(name) for values in sections.values() for name in values)
    for title, values in sections.items():
        print(f"# {title}")
        for name, value in values.items():
            print(f"{name:<{width}} = {value}")
    return 0
