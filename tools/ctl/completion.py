"""Shell completion for reactorctl, generated from its argparse parser.

The concept: nothing is kept by hand.  ``bash_script(parser)`` walks the
parser (sub-commands and their aliases, options with and without an argument,
the choices of a positional argument, else the keywords of its syntax line,
a FILE argument) into five bash
associative arrays keyed by command path (``top``, ``top route4``,
``top route4 add``), plus one fixed function that reads them: a new option or
keyword in the parser appears in the completion with no edit here.

What the function completes, for the words before the cursor: the next
sub-command; options of the current command (after ``-``); files after an
option that takes a path (``-s/--socket``) and for a FILE argument; the
syntax keywords of the command (``via``, ``vrf``, ``blackhole``...); nothing
after an option that takes a number or a key.  Aliases (``nh``, ``ct``)
resolve to their command.  Needs bash >= 4 (associative arrays).
"""

from __future__ import annotations

import argparse
import re
import shlex

PATH_OPTIONS = {"--socket"}
"""Options whose argument is a file system path."""
_KEYWORD = re.compile(r"(?<![\w-])([a-z][a-z0-9]*)(?![\w-])")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[
        argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _walk(parser: argparse.ArgumentParser, path: str, tables: dict[str, dict[str, str]]) -> None:
    flags: list[str] = []
    takes: list[str] = []
    words: list[str] = []
    files = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings:
            (flags if action.nargs == 0 else takes).extend(action.option_strings)
            if PATH_OPTIONS & set(action.option_strings):
                tables["paths"][path] = " ".join(action.option_strings)
        elif action.choices:
            words += [str(choice) for choice in action.choices]
        elif action.help and action.help != argparse.SUPPRESS:
            words += _KEYWORD.findall(action.help)
        if not action.option_strings and action.metavar and "FILE" in str(action.metavar):
            files = True
    tables["flags"][path] = " ".join(flags)
    tables["takes"][path] = " ".join(takes)
    tables["words"][path] = " ".join(dict.fromkeys(words))
    if files:
        tables["files"][path] = "1"
    subs = _subparsers(parser)
    if subs is None:
        return
    names: list[str] = []
    seen: dict[int, str] = {}
    for name, child in subs.choices.items():
        names.append(name)
        canonical = seen.setdefault(id(child), name)
        if canonical != name:
            tables["alias"][f"{path} {name}"] = f"{path} {canonical}"
        else:
            _walk(child, f"{path} {name}", tables)
    tables["subs"][path] = " ".join(names)


FUNCTION = r'''
_reactorctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local path=top word next i skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((skip)); then skip=0; continue; fi
        if [[ " ${_reactorctl_takes[$path]} " == *" $word "* ]]; then skip=1; continue; fi
        [[ $word == -* ]] && continue
        if [[ " ${_reactorctl_subs[$path]-} " == *" $word "* ]]; then
            next="$path $word"
            path=${_reactorctl_alias[$next]-$next}
        fi
    done
    COMPREPLY=()
    if [[ " ${_reactorctl_takes[$path]} " == *" $prev "* ]]; then
        if [[ " ${_reactorctl_paths[$path]-} " == *" $prev "* ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_reactorctl_flags[$path]} ${_reactorctl_takes[$path]}" \
                     -- "$cur"))
    elif [[ -n ${_reactorctl_subs[$path]-} ]]; then
        COMPREPLY=($(compgen -W "${_reactorctl_subs[$path]}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${_reactorctl_words[$path]-}" -- "$cur"))
        if [[ -n ${_reactorctl_files[$path]-} ]]; then
            COMPREPLY+=($(compgen -f -- "$cur"))
        fi
    fi
    return 0
}
complete -F _reactorctl reactorctl
'''


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The bash completion script for ``parser`` (reactorctl's)."""
    tables: dict[str, dict[str, str]] = {name: {} for name in
                                         ("subs", "alias", "flags", "takes", "words", "files",
                                          "paths")}
    _walk(parser, "top", tables)
    out = [f"# bash completion for {parser.prog}, generated from its parser by "
           f"'{parser.prog} completion bash'.",
           f"# Install: {parser.prog} completion bash > "
           f"/etc/bash_completion.d/{parser.prog}  (or source it from ~/.bashrc)"]
    for name, table in tables.items():
        out.append(f"declare -gA _reactorctl_{name}=(")
        out += [f"    [{shlex.quote(key)}]={shlex.quote(value)}"
                for key, value in sorted(table.items())]
        out.append(")")
    return "\n".join(out) + FUNCTION
