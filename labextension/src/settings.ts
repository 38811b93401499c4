/**
 * The extension's settings (schema/plugin.json, read through JupyterLab's
 * setting registry). The schema is the one place their defaults are written;
 * `readSettings` takes a composite as the registry gives it and falls back to
 * those defaults for anything missing or of the wrong type.
 */
import schema from '../schema/plugin.json';

export interface ISettings {
  /** Turn JupyterLab's debugger on at `attached` and off at `detached`. */
  toggleDebugger: boolean;
  /** Open the step script in a file editor at `attached`. */
  openScriptOnAttach: boolean;
  /** After a failed debugger start, how long to wait for the kernel's own report. */
  kernelReportWaitMs: number;
  /** autoClose of the "no amldebug comm" and "nothing to attach to" warnings (0: never). */
  warningAutoCloseMs: number;
  /** autoClose of the "debugger not available" warning (0: never). */
  noDebuggerAutoCloseMs: number;
  /** autoClose of the kernel's `deadline_soon` warning (0: never). */
  deadlineSoonAutoCloseMs: number;
  /** Rank of the panel in the left sidebar (read once, at activation). */
  sidebarRank: number;
}

interface IProperty {
  type: 'boolean' | 'integer';
  default: boolean | number;
  minimum?: number;
}

/** The schema itself (for tests and diagnostics). */
export const SETTINGS_SCHEMA: Readonly<Record<string, unknown>> = schema;

const PROPERTIES = schema.properties as Record<keyof ISettings, IProperty>;

function valid(property: IProperty, value: unknown): boolean {
  if (property.type === 'boolean') {
    return typeof value === 'boolean';
  }
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= (property.minimum ?? -Infinity)
  );
}

/** Settings from a composite (`ISettingRegistry.ISettings.composite`), defaults where it has none. */
export function readSettings(composite: unknown): ISettings {
  const given =
    typeof composite === 'object' && composite !== null
      ? (composite as Record<string, unknown>)
      : {};
  const settings: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(PROPERTIES)) {
    settings[name] = valid(property, given[name])
      ? given[name]
      : property.default;
  }
  return settings as unknown as ISettings;
}

/** The schema's defaults (what the extension uses without a setting registry). */
export const DEFAULT_SETTINGS: Readonly<ISettings> = Object.freeze(
  readSettings({})
);

/** A notification's `autoClose` for a duration setting: 0 keeps it open. */
export function autoClose(ms: number): number | false {
  return ms > 0 ? ms : false;
}
