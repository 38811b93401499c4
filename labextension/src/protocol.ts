/**
 * The `amldebug` comm protocol: TypeScript types mirroring
 * amldebug_jupyter/notebook/comm_schema.json, and validation against that schema.
 *
 * The schema is the contract; these types only describe what a message that
 * passed validation looks like. A test checks both agree on the message kinds.
 */
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import schema from '../../amldebug_jupyter/notebook/comm_schema.json';

/** Comm target name, registered on every notebook kernel. */
export const COMM_TARGET = 'amldebug';

export type TargetState = 'waiting' | 'attached' | 'lost' | 'done';

export interface ITarget {
  id: string;
  label: string;
  state: TargetState;
  /** host:port of the remote debugpy adapter. */
  address: string | null;
  /** Epoch seconds (kernel clock) when the remote stops waiting. */
  deadline: number | null;
  local_root: string | null;
  remote_root: string | null;
  /** Absolute local path of the step script / score.py. */
  script: string | null;
}

export interface ITargetsMessage {
  type: 'targets';
  targets: ITarget[];
  /** Kernel clock when sent (epoch seconds), for clock-skew correction. */
  now?: number;
  /** Kernel home directory, to expand `~` in the server root. */
  home?: string | null;
}

export interface IAttachedMessage {
  type: 'attached';
  target: string;
  script: string | null;
  line: number | null;
}

export interface IDetachedMessage {
  type: 'detached';
  target: string;
}

export type ProblemKind =
  'attach_failed' | 'unreachable' | 'remote_gone' | 'deadline_soon';

export interface IProblemMessage {
  type: 'problem';
  kind: ProblemKind;
  target: string | null;
  message: string;
  details: string | null;
}

export type KernelMessage =
  ITargetsMessage | IAttachedMessage | IDetachedMessage | IProblemMessage;

export type FrontendMessage =
  { type: 'hello' } | { type: 'attach'; target: string } | { type: 'detach' };

/** Message kinds this frontend handles, per direction (checked against the schema in tests). */
export const KERNEL_MESSAGE_TYPES: ReadonlyArray<KernelMessage['type']> = [
  'targets',
  'attached',
  'detached',
  'problem'
];
export const FRONTEND_MESSAGE_TYPES: ReadonlyArray<FrontendMessage['type']> = [
  'hello',
  'attach',
  'detach'
];

/** The schema object itself (for tests and diagnostics). */
export const COMM_SCHEMA: Readonly<Record<string, unknown>> = schema;

interface IValidators {
  kernel: ValidateFunction<KernelMessage>;
  frontend: ValidateFunction<FrontendMessage>;
}

let validators: IValidators | undefined;

/** Compile lazily: nothing is paid until the first message arrives. */
function getValidators(): IValidators {
  if (!validators) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    ajv.addSchema(schema, 'comm');
    validators = {
      kernel: ajv.compile<KernelMessage>({
        $ref: 'comm#/$defs/kernel_message'
      }),
      frontend: ajv.compile<FrontendMessage>({
        $ref: 'comm#/$defs/frontend_message'
      })
    };
  }
  return validators;
}

export type Validation<T> =
  { ok: true; message: T } | { ok: false; error: string };

function describe(validate: ValidateFunction<unknown>): string {
  return (validate.errors ?? [])
    .map(e => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/** Validate data received from the kernel. */
export function parseKernelMessage(data: unknown): Validation<KernelMessage> {
  const { kernel } = getValidators();
  if (kernel(data)) {
    return { ok: true, message: data };
  }
  return { ok: false, error: describe(kernel) };
}

/** Validate data before sending it to the kernel (guards against our own bugs). */
export function checkFrontendMessage(
  data: unknown
): Validation<FrontendMessage> {
  const { frontend } = getValidators();
  if (frontend(data)) {
    return { ok: true, message: data };
  }
  return { ok: false, error: describe(frontend) };
}
