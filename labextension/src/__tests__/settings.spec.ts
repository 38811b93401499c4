import {
  DEFAULT_SETTINGS,
  SETTINGS_SCHEMA,
  autoClose,
  readSettings
} from '../settings';
import type { ISettings } from '../settings';

const properties = SETTINGS_SCHEMA.properties as Record<
  string,
  { default: unknown; title?: string; description?: string }
>;

describe('settings', () => {
  it('default to the schema, which titles and describes each', () => {
    expect(Object.keys(DEFAULT_SETTINGS).sort()).toEqual(
      Object.keys(properties).sort()
    );
    for (const [name, property] of Object.entries(properties)) {
      expect(DEFAULT_SETTINGS[name as keyof ISettings]).toBe(property.default);
      expect(property.title).toBeTruthy();
      expect(property.description).toBeTruthy();
    }
  });

  it("keep today's values as defaults", () => {
    expect(DEFAULT_SETTINGS).toEqual({
      toggleDebugger: true,
      openScriptOnAttach: true,
      kernelReportWaitMs: 1500,
      warningAutoCloseMs: 5000,
      noDebuggerAutoCloseMs: 8000,
      deadlineSoonAutoCloseMs: 10000,
      sidebarRank: 850
    });
  });

  it('read a composite, and the default for what is missing or wrong', () => {
    const read = readSettings({
      toggleDebugger: false,
      kernelReportWaitMs: 200,
      warningAutoCloseMs: -5,
      noDebuggerAutoCloseMs: 'soon',
      deadlineSoonAutoCloseMs: 1.5,
      unknown: 1
    });
    expect(read).toEqual({
      ...DEFAULT_SETTINGS,
      toggleDebugger: false,
      kernelReportWaitMs: 200
    });
    expect(readSettings(null)).toEqual(DEFAULT_SETTINGS);
  });

  it('keep a notification open for a duration of 0', () => {
    expect(autoClose(0)).toBe(false);
    expect(autoClose(5000)).toBe(5000);
  });
});
