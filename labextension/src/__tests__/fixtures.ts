import type { ITarget } from '../protocol';

/** A waiting target; override any field. */
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
    ...overrides
  };
}
