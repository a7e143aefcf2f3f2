# bash completion for evtrace: commands, subcommands and flags come from
# evtrace itself (urfave/cli's --generate-bash-completion), so they never
# drift from --help; positional arguments complete as file names (run
# FILE.c).
_evtrace() {
    local cur opts
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if [[ "$cur" == -* ]]; then
        opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
        # A command without subcommands lists only cli's help aliases.
        if [[ -z "$opts" || "$opts" == $'help\nh' ]]; then
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
        fi
    fi
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
}
complete -o filenames -F _evtrace evtrace
