"""Show or clean what pyvta caches: simulator builds (Verilator, Icarus) and the core's Verilog,
kept within a size cap by evicting the least recently used (VTA_CACHE_MAX_SIZE, default 5G;
"unlimited" for none), built models, compiled models (`vta compile`'s cache), the schedule
search's results (a file per config and compiler: the tilings timed for every layer shape
compiled) and the compiled cycle engine (a shared library per source and compiler). The
folder is $VTA_CACHE_DIR, else $XDG_CACHE_HOME/pyvta, else ~/.cache/pyvta. A build that a
running process uses is never removed."""

import os
import time

from vta.cli.common import Failure
from vta.cli.output import add_output_options, emit

NAME = "cache"
HELP = ("show or clean the cache of simulator builds, Verilog, models, compiled models, "
        "schedule searches and the cycle engine")

KINDS = ("rtl", "verilog", "models", "compiled", "search", "cycle-engine")
#: Kinds outside the size cap, listed oldest first.
UNCAPPED = ("models", "compiled", "search", "cycle-engine")


def add_arguments(parser):
    commands = parser.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True,
                                     parser_class=type(parser))
    info = commands.add_parser("info", help="where the cache is, its size cap and what it holds")
    add_output_options(info, quiet=False)
    clean = commands.add_parser("clean", help="remove cached entries no process is using")
    clean.add_argument("--kind", default=",".join(KINDS), metavar="KINDS",
                       help=f"comma-separated kinds to remove: {', '.join(KINDS)} "
                            f"(default: %(default)s)")
    clean.add_argument("--max-size", metavar="SIZE",
                       help="remove the least recently used simulator builds and Verilog until "
                            "they fit in SIZE (e.g. 500M, 2G; models are left alone) instead of "
                            "removing them all")
    add_output_options(clean)


def run(args) -> int:
    return {"info": _info, "clean": _clean}[args.cache_command](args)


def _files(kind: str, folder, pattern: str) -> list:
    """The entries of `kind`: the files in `folder` that match `pattern` (not dot files:
    builds under way)."""
    from vta.runtime.backends.rtl.cache import Entry

    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(pattern):
        if path.is_file() and not path.name.startswith("."):
            info = path.stat()
            found.append(Entry(kind, path, info.st_size, info.st_mtime))
    return found


def _model_entries():
    from vta.isa.files import cache_home

    return _files("models", cache_home() / "models", "*")


def _compiled_entries():
    """The compile cache's `.vtab` files (`vta.compiler.compile_cache`)."""
    from vta.compiler import compile_cache

    return _files("compiled", compile_cache.folder(), "*.vtab")


def _search_entries():
    """The schedule search's files (`vta.compiler.search_cache`)."""
    from vta.compiler import search_cache

    return _files("search", search_cache.folder(), "*.json")


def _engine_entries():
    """The cycle engine's shared libraries (`vta.simulator.cycle.engine`)."""
    from vta.simulator.cycle import engine

    return _files("cycle-engine", engine.folder(), "*.so")


def _entries():
    from vta.runtime.backends.rtl import cache

    return [*cache.entries(), *_model_entries(), *_compiled_entries(), *_search_entries(),
            *_engine_entries()]


def _info(args) -> int:
    from vta.isa.files import cache_home
    from vta.runtime.backends.rtl import cache

    root = cache_home()
    origin = ("VTA_CACHE_DIR" if os.environ.get("VTA_CACHE_DIR")
              else "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "default")
    limit = cache.max_bytes()
    found = _entries()
    kinds = {kind: {"entries": sum(e.kind == kind for e in found),
                    "bytes": sum(e.bytes for e in found if e.kind == kind)} for kind in KINDS}
    capped = kinds["rtl"]["bytes"] + kinds["verilog"]["bytes"]
    document = {"root": root, "root_from": origin, "builds": cache.safe_root(),
                "max_bytes": limit,
                "max_bytes_from": "VTA_CACHE_MAX_SIZE" if os.environ.get("VTA_CACHE_MAX_SIZE")
                else "default",
                "capped_bytes": capped, "total_bytes": sum(e.bytes for e in found),
                "kinds": kinds,
                "entries": [{"kind": e.kind, "path": e.path, "bytes": e.bytes,
                             "last_used": _timestamp(e.last_used)} for e in found]}
    cap = "unlimited" if limit is None else _size(limit)
    lines = [f"cache: {root} ({'set by ' + origin if origin != 'default' else 'default'}; "
             f"VTA_CACHE_DIR moves it)",
             f"size cap for simulator builds and Verilog: {cap} "
             f"({'set by' if document['max_bytes_from'] != 'default' else 'default;'} "
             f"VTA_CACHE_MAX_SIZE), using {_size(capped)}"]
    names = {"rtl": "simulator builds", "verilog": "Verilog texts", "models": "models",
             "compiled": "compiled models", "search": "schedule searches",
             "cycle-engine": "cycle engine"}
    for kind in KINDS:
        entries = [e for e in found if e.kind == kind]
        oldest = f", least recently used {_ago(entries[0].last_used)}" if entries else ""
        if kind in UNCAPPED:
            entries.sort(key=lambda e: e.last_used)
            oldest = f", oldest {_ago(entries[0].last_used)}" if entries else ""
        lines.append(f"  {names[kind]:<17} {len(entries):>5}  {_size(kinds[kind]['bytes']):>10}"
                     f"{oldest}")
    lines.append(f"total {_size(document['total_bytes'])}")
    emit(args, document, "\n".join(lines))
    return 0


def _clean(args) -> int:
    from vta.runtime.backends.rtl import cache

    kinds = [kind for kind in args.kind.split(",") if kind]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise Failure(f"--kind takes some of {', '.join(KINDS)}, not {args.kind!r}")
    build_kinds = tuple(kind for kind in kinds if kind in ("rtl", "verilog"))
    if args.max_size is not None:
        if not build_kinds:
            raise Failure("--max-size applies to simulator builds and Verilog (rtl, verilog)")
        outcome = cache.evict(cache.parse_size(args.max_size, "--max-size"), build_kinds)
    else:
        outcome = cache.evict(0, build_kinds) if build_kinds else {"removed": [], "in_use": []}
        if "models" in kinds:
            for entry in _model_entries():
                entry.path.unlink(missing_ok=True)
                outcome["removed"].append(entry)
        if "compiled" in kinds:
            for entry in _compiled_entries():
                entry.path.with_suffix(".json").unlink(missing_ok=True)
                entry.path.unlink(missing_ok=True)
                outcome["removed"].append(entry)
        if "search" in kinds:
            for entry in _search_entries():
                entry.path.unlink(missing_ok=True)
                outcome["removed"].append(entry)
        if "cycle-engine" in kinds:
            for entry in _engine_entries():
                entry.path.unlink(missing_ok=True)
                outcome["removed"].append(entry)
    removed, busy = outcome["removed"], outcome["in_use"]
    freed = sum(entry.bytes for entry in removed)
    document = {"removed": [{"kind": e.kind, "path": e.path, "bytes": e.bytes} for e in removed],
                "removed_bytes": freed,
                "in_use": [{"kind": e.kind, "path": e.path, "bytes": e.bytes} for e in busy]}
    text = f"removed {len(removed)} entries ({_size(freed)})"
    if busy:
        text += f"; kept {len(busy)} in use by a running process"
    emit(args, document, text)
    return 0


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def _ago(moment: float) -> str:
    seconds = max(0.0, time.time() - moment)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit} ago"
    return "just now"


def _timestamp(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
