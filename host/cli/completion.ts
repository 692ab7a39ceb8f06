import { UsageError, type CommandIo } from './usage.js';

/**
 * `greentic-host completion bash|zsh|fish`: a shell completion script for the commands, their
 * subcommands and their flags. The flags come from each command's own --help text, so the
 * script cannot fall behind what the commands accept.
 */

export const COMPLETION_HELP = `Usage: greentic-host completion bash|zsh|fish

Print a completion script for your shell: commands, subcommands and flags.

  bash   echo 'source <(greentic-host completion bash)' >> ~/.bashrc
  zsh    echo 'source <(greentic-host completion zsh)' >> ~/.zshrc
  fish   greentic-host completion fish > ~/.config/fish/completions/greentic-host.fish

Exit codes: 0 printed, 2 bad usage.`;

/** Subcommands of the commands that have them. */
const SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  secrets: ['set', 'list', 'delete', 'rotate-key'],
  token: ['issue'],
  component: ['new', 'build'],
  pack: ['inspect', 'verify'],
  nats: ['migrate'],
  completion: ['bash', 'zsh', 'fish'],
};

/** What completion needs of each command: its name and its --help text. */
export interface CompletedCommand {
  readonly name: string;
  readonly help: string;
}

/** The long flags a help text documents, sorted, --help included. */
export function flagsOf(help: string): string[] {
  return [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))].sort();
}

/** The completion script for `shell`. */
export function completionScript(shell: string, commands: readonly CompletedCommand[]): string {
  const names = [...commands.map((c) => c.name), '--version', '--help'];
  const table = commands.map((c) => ({ name: c.name, subs: Object.hasOwn(SUBCOMMANDS, c.name) ? SUBCOMMANDS[c.name]! : [], flags: flagsOf(c.help) }));
  if (shell === 'bash') {
    const cases = table.map((c) => `    ${c.name}) words="${[...c.subs, ...c.flags].join(' ')}" ;;`).join('\n');
    return `# greentic-host completion for bash
_greentic_host() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names.join(' ')}" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _greentic_host greentic-host
`;
  }
  if (shell === 'zsh') {
    const cases = table.map((c) => `    ${c.name}) compadd -- ${[...c.subs, ...c.flags].join(' ')} ;;`).join('\n');
    return `#compdef greentic-host
# greentic-host completion for zsh
_greentic_host() {
  if (( CURRENT == 2 )); then
    compadd -- ${names.join(' ')}
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
  _files
}
compdef _greentic_host greentic-host
`;
  }
  if (shell === 'fish') {
    const lines = ['# greentic-host completion for fish', 'complete -c greentic-host -f'];
    for (const c of table) {
      lines.push(`complete -c greentic-host -n __fish_use_subcommand -a ${c.name}`);
      if (c.subs.length > 0) lines.push(`complete -c greentic-host -n '__fish_seen_subcommand_from ${c.name}' -a '${c.subs.join(' ')}'`);
      for (const f of c.flags) lines.push(`complete -c greentic-host -n '__fish_seen_subcommand_from ${c.name}' -l ${f.slice(2)}`);
    }
    lines.push('complete -c greentic-host -n __fish_use_subcommand -l version', 'complete -c greentic-host -n __fish_use_subcommand -l help');
    return `${lines.join('\n')}\n`;
  }
  throw new UsageError(`expected completion bash, zsh or fish, got ${JSON.stringify(shell.slice(0, 40))}`);
}

/** Run `completion`, given the commands main knows. */
export function completionCommand(argv: string[], io: CommandIo, commands: readonly CompletedCommand[]): number {
  if (argv[0] === '--help' || argv[0] === '-h') {
    io.out(COMPLETION_HELP);
    return 0;
  }
  if (argv.length !== 1) throw new UsageError('expected one shell: bash, zsh or fish');
  io.out(completionScript(argv[0]!, commands).replace(/\n$/, ''));
  return 0;
}
