/**
 * The command line's one declarative table format: every command lists its options once, as
 * {@link OptionSpec}s, and from that table come the `parseArgs` configuration, the environment
 * variable of each setting (`REFRESH_GRANT_*`), the validation of values, the `--help` text and the
 * README's configuration table. Adding a flag is adding one line to a command's option list.
 *
 * This module loads nothing but `parseArgs`: `--help` and the table itself load fast.
 */
import type { ParseArgsConfig } from 'node:util';

// `import { parseArgs } from 'node:util'` would build util's whole ES module namespace, whose
// lazy members load worker_threads and more (measured: about a third of `--help`'s start-up).
const { parseArgs } = process.getBuiltinModule('node:util');

/** Where a command writes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * A usage error: the command line itself is wrong. Printed as one line and a pointer to the
 * command's `--help`; exit code 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose help to point at, when it is not the one being run (e.g. `['clients']`). */
  readonly command: string[] | undefined;

  constructor(message: string, command?: string[]) {
    super(message);
    this.command = command;
  }
}

/** One option of a command. */
export interface OptionSpec {
  /** The flag without its dashes: `retry-window` is `--retry-window`. */
  name: string;
  /** A flag (`--json`) or a flag with a value (`--port 8080`). Default: a value. */
  type?: 'string' | 'boolean';
  /** The placeholder of the value in help text, e.g. `SECONDS`. */
  value?: string;
  /** One line of help. */
  help: string;
  /** May be given several times (every value is kept, in order). */
  multiple?: boolean;
  /** One-letter alias. */
  short?: string;
  /** Refuse the command without it (checked after `--help`). */
  required?: boolean;
  /** The value when neither the flag nor its environment variable is given, as shown in help. */
  default?: string;
  /**
   * Also read from an environment variable: `true` for `REFRESH_GRANT_<NAME>`, or more names to
   * try after it (e.g. `PORT`). Repeatable options take several values separated by commas.
   */
  env?: true | string[];
  /** The allowed values. */
  choices?: readonly string[];
  /** Checks a value; returns an error message (without the flag's name) when it is wrong. */
  check?: (value: string) => string | undefined;
}

/** A command or subcommand. */
export interface CommandSpec {
  /** The words after `refresh-grant`, e.g. `['clients', 'add']`. */
  path: string[];
  /** One line: what it does. */
  summary: string;
  /** More help text, printed after the options (exit codes, examples). */
  details?: string;
  options: OptionSpec[];
  /** Loads the implementation (a dynamic import: only the command that runs is loaded). */
  load: () => Promise<CommandRun>;
}

/** What a command does with its parsed options; resolves with the exit code. */
export type CommandRun = (options: Options, io: CliIo) => Promise<number>;

/** The environment variable names an option is read from (empty when it has none). */
export function envNames(option: OptionSpec): string[] {
  if (!option.env) return [];
  const own = `REFRESH_GRANT_${option.name.toUpperCase().replace(/-/g, '_')}`;
  return option.env === true ? [own] : [own, ...option.env];
}

/** Parsed options: flag, then environment variable, then default. */
export class Options {
  readonly #values: Record<string, string | boolean | string[] | undefined>;

  constructor(values: Record<string, string | boolean | string[] | undefined>) {
    this.#values = values;
  }

  /** A value option, or undefined when not given and without default. */
  string(name: string): string | undefined {
    const value = this.#values[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** A required value option (the table marks it `required`, so it is there). */
  required(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`--${name} is required`);
    return value;
  }

  /** A boolean flag. */
  flag(name: string): boolean {
    return this.#values[name] === true;
  }

  /** A repeatable option: every value given, or undefined when none. */
  list(name: string): string[] | undefined {
    const value = this.#values[name];
    return Array.isArray(value) && value.length > 0 ? value : undefined;
  }

  /** A whole number (the table's `check` has validated it), or undefined. */
  number(name: string): number | undefined {
    const value = this.string(name);
    return value === undefined ? undefined : Number(value);
  }

  /** True when the option was given on the command line or in the environment. */
  has(name: string): boolean {
    const value = this.#values[name];
    return value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0);
  }
}

const truthy = /^(1|true|yes|on)$/i;
const falsy = /^(0|false|no|off|)$/i;

/**
 * Parses `args` against a command's table: flags, then environment variables, then defaults;
 * checks choices, values and required options. Every mistake is a {@link UsageError} of one line.
 */
export function parseOptions(spec: CommandSpec, args: string[], env: Record<string, string | undefined> = process.env): Options | 'help' {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const option of spec.options) {
    config[option.name] = { type: option.type ?? 'string', ...(option.multiple ? { multiple: true } : {}), ...(option.short ? { short: option.short } : {}) };
  }
  config.help = { type: 'boolean', short: 'h' };
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  try {
    ({ values } = parseArgs({ args, options: config, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(parseArgsMessage(error as Error & { code?: string }));
  }
  if (values.help) return 'help';
  const out: Record<string, string | boolean | string[] | undefined> = {};
  for (const option of spec.options) {
    let value = values[option.name] as string | boolean | string[] | undefined;
    let source = `--${option.name}`;
    if (value === undefined) {
      for (const name of envNames(option)) {
        const raw = env[name];
        if (raw === undefined) continue;
        source = name;
        if (option.type === 'boolean') {
          if (!truthy.test(raw) && !falsy.test(raw)) throw new UsageError(`${name} must be true or false (1/0, yes/no, on/off), not ${JSON.stringify(raw)}`);
          value = truthy.test(raw);
        } else if (option.multiple) {
          value = raw.split(',').map((s) => s.trim()).filter(Boolean);
        } else {
          value = raw;
        }
        break;
      }
    }
    if (value === undefined && option.default !== undefined && option.type !== 'boolean') value = option.multiple ? [option.default] : option.default;
    for (const item of Array.isArray(value) ? value : typeof value === 'string' ? [value] : []) {
      if (option.choices && !option.choices.includes(item)) {
        throw new UsageError(`${source} must be ${orList(option.choices)}, not ${JSON.stringify(item)}`);
      }
      const problem = option.check?.(item);
      if (problem) throw new UsageError(`${source} ${problem}, not ${JSON.stringify(item)}`);
    }
    out[option.name] = value;
  }
  const missing = spec.options.filter((o) => o.required && (out[o.name] === undefined || (Array.isArray(out[o.name]) && (out[o.name] as string[]).length === 0)));
  if (missing.length > 0) throw new UsageError(`${orList(missing.map((o) => `--${o.name}`), 'and')} ${missing.length > 1 ? 'are' : 'is'} required`);
  return new Options(out);
}

/** parseArgs' errors, said in one line with our flag names. */
function parseArgsMessage(error: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag ?? error.message}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/ambiguous/.test(error.message)) return `${flag} needs a value; for a value that begins with "-", write ${flag}=VALUE`;
      if (/does not take an argument/.test(error.message)) return `${flag} takes no value`;
      return `${flag} needs a value`;
    default:
      return error.message.split('\n')[0];
  }
}

/** `a, b or c`. */
export function orList(items: readonly string[], conjunction = 'or'): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}`;
}

// --- value checks --------------------------------------------------------------------------

/** A whole number of seconds (0 allowed). */
export const seconds = (value: string) => (/^\d{1,10}$/.test(value) ? undefined : 'must be a whole number of seconds');
/** A whole number of seconds greater than 0. */
export const positiveSeconds = (value: string) => (/^0*[1-9]\d{0,9}$/.test(value) ? undefined : 'must be a whole number of seconds greater than 0');
/** A positive whole number. */
export const positiveInteger = (value: string) => (/^0*[1-9]\d{0,8}$/.test(value) ? undefined : 'must be a whole number greater than 0');
/** A TCP port. */
export const port = (value: string) => (/^\d{1,5}$/.test(value) && Number(value) <= 65535 ? undefined : 'must be a port number from 0 to 65535');
/** An http(s) URL. */
export const httpUrl = (value: string) => (/^https?:\/\/[^\s]+$/.test(value) && URL.canParse(value) ? undefined : 'must be an http(s) URL');

// --- help ----------------------------------------------------------------------------------

/** The synopsis of a command: its required options, then `[options]`. */
export function synopsis(spec: CommandSpec): string {
  const required = spec.options.filter((o) => o.required).map((o) => `--${o.name} ${o.value ?? 'VALUE'}`);
  return ['refresh-grant', ...spec.path, ...required, '[options]'].join(' ');
}

/** The `--help` text of a command, from its table. */
export function commandHelp(spec: CommandSpec): string {
  const rows = spec.options.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.type === 'boolean' ? '' : ` ${o.value ?? (o.choices ? o.choices.join('|') : 'VALUE')}`}`;
    const notes = [
      o.required ? 'required' : undefined,
      o.multiple ? 'repeatable' : undefined,
      o.default !== undefined ? `default ${o.default}` : undefined,
      ...envNames(o).map((e) => `env ${e}`),
    ].filter(Boolean);
    return [flag, `${o.help}${notes.length ? ` [${notes.join('; ')}]` : ''}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.min(34, Math.max(...rows.map(([flag]) => flag.length)));
  const lines = rows.map(([flag, text]) => (flag.length > width ? `  ${flag}\n  ${' '.repeat(width)}  ${text}` : `  ${flag.padEnd(width)}  ${text}`));
  return `Usage: ${synopsis(spec)}\n\n${spec.summary}\n\nOptions:\n${lines.join('\n')}\n${spec.details ? `\n${spec.details.trimEnd()}\n` : ''}`;
}

/** A command's options as a Markdown table (flag, environment variable, default, meaning): the README's configuration table. */
export function optionsMarkdown(spec: CommandSpec): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;');
  const rows = spec.options.map((o) => {
    const flag = `\`--${o.name}${o.type === 'boolean' ? '' : ` ${o.value ?? (o.choices ? o.choices.join('|') : 'VALUE')}`}\``;
    const env = envNames(o).map((e) => `\`${e}\``).join(', ') || '';
    return `| ${cell(flag)} | ${env} | ${o.default !== undefined ? `\`${o.default}\`` : ''} | ${cell(o.help)}${o.multiple ? ' (repeatable; in the variable, comma-separated)' : ''} |`;
  });
  return ['| flag | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}
