import type { ITarget } from '../protocol';

/** A waiting target (protocol 2); override any field. */
export function target(overrides: Partial<ITarget> = {}): ITarget {
  return {
    id: 'run1/train',
    label: 'train',
    state: 'waiting',
    address: '10.0.0.4:5678',
    deadline: 1000,
    local_root: '/home/azureuser/proj/steps',
    remote_root: '/mnt/azureml/cr/j/abc/exe/wd',
    script: '/home/azureuser/proj/steps/train.py',
    detail: 'waits for a debugger until 14:32:10',
    can_attach: true,
    can_detach: false,
    ...overrides
  };
}
