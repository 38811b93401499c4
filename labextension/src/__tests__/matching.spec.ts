import { breakpointPathFor } from '../matching';
import { target } from './fixtures';

const ROOT = '~';
const HOME = '/home/azureuser';

describe('breakpointPathFor (which editor gets a handler)', () => {
  const targets = [target()];

  it('binds the target script', () => {
    expect(breakpointPathFor('proj/steps/train.py', targets, ROOT, HOME)).toBe(
      '/home/azureuser/proj/steps/train.py'
    );
  });

  it('binds other Python files under local_root, with the kernel-side absolute path', () => {
    expect(
      breakpointPathFor('proj/steps/lib/util.py', targets, ROOT, HOME)
    ).toBe('/home/azureuser/proj/steps/lib/util.py');
  });

  it('skips non-Python files under local_root and files outside it', () => {
    expect(
      breakpointPathFor('proj/steps/conf.yaml', targets, ROOT, HOME)
    ).toBeNull();
    expect(
      breakpointPathFor('proj/other/train.py', targets, ROOT, HOME)
    ).toBeNull();
    expect(
      breakpointPathFor('proj/steps-old/train.py', targets, ROOT, HOME)
    ).toBeNull();
  });

  it('binds a script that is not a .py file (score entry under another name)', () => {
    const t = [
      target({ local_root: null, script: '/home/azureuser/proj/score' })
    ];
    expect(breakpointPathFor('proj/score', t, ROOT, HOME)).toBe(
      '/home/azureuser/proj/score'
    );
  });

  it('guesses home when the kernel did not send it', () => {
    expect(breakpointPathFor('proj/steps/train.py', targets, '~/', null)).toBe(
      '/home/azureuser/proj/steps/train.py'
    );
  });

  it('keeps the kernel spelling of local_root (trailing slash) out of the result', () => {
    const t = [target({ local_root: '/srv/nb/steps/', script: null })];
    expect(breakpointPathFor('steps/a.py', t, '/srv/nb', null)).toBe(
      '/srv/nb/steps/a.py'
    );
  });

  it('binds nothing without targets or when paths are outside the server root', () => {
    expect(breakpointPathFor('proj/steps/train.py', [], ROOT, HOME)).toBeNull();
    const outside = [
      target({ local_root: '/mnt/code', script: '/mnt/code/train.py' })
    ];
    expect(breakpointPathFor('train.py', outside, '/srv/nb', null)).toBeNull();
  });

  it('handles a server root of /', () => {
    const t = [target({ local_root: '/opt/app', script: null })];
    expect(breakpointPathFor('opt/app/x.py', t, '/', null)).toBe(
      '/opt/app/x.py'
    );
  });
});
