// The Traefik stand-in's logs: logrus's text format, as Traefik v2 prints it.

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof LEVELS)[number];
export type LogFields = Record<string, string | number>;
export type Logger = (level: LogLevel, msg: string, fields?: LogFields) => void;

function quote(v: string): string {
  return /^[A-Za-z0-9\-._/@^+]+$/.test(v) ? v : JSON.stringify(v);
}

function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off);
  return `${local}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

export function formatLogLine(level: LogLevel, msg: string, fields: LogFields = {}): string {
  const name = level === 'warn' ? 'warning' : level;
  const extra = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${quote(String(v))}`)
    .join('');
  return `time="${rfc3339(new Date())}" level=${name} msg=${quote(msg)}${extra}`;
}

function parseLevel(level: string | undefined): LogLevel | undefined {
  const l = (level ?? 'ERROR').toLowerCase();
  const n = l === 'warning' ? 'warn' : l;
  return (LEVELS as readonly string[]).includes(n) ? (n as LogLevel) : undefined;
}

/** A logger writing the lines at `level` and above; an invalid level is ERROR, as Traefik says (at ERROR). */
export function createLogger(level: string | undefined, write: (line: string) => void): Logger {
  const min = LEVELS.indexOf(parseLevel(level) ?? 'error');
  const log: Logger = (l, msg, fields) => {
    if (LEVELS.indexOf(l) >= min) write(formatLogLine(l, msg, fields));
  };
  if (!parseLevel(level)) log('error', 'Unspecified or invalid log level, setting the level to default (ERROR)...', { logLevel: level ?? '' });
  return log;
}
