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

/** The schema's `x-*` annotations, read by both sides. */
function annotation<T extends string | number>(
  name: string,
  type: 'string' | 'number'
): T {
  const value = (schema as Record<string, unknown>)[name];
  if (typeof value !== type) {
    throw new Error(`comm_schema.json: ${name} must be a ${type}`);
  }
  return value as T;
}

/** Comm target name, registered on every notebook kernel (the schema's `x-comm-target`). */
export const COMM_TARGET: string = annotation('x-comm-target', 'string');

/**
 * The comm protocol this extension speaks (the schema's `x-protocol-version`),
 * sent in `hello`; a kernel's `targets` carry its own. A message without one
 * comes from protocol 1.
 */
export const PROTOCOL_VERSION: number = annotation(
  'x-protocol-version',
  'number'
);

/** What the user reads when the kernel's package speaks another protocol. */
export function protocolMismatchText(kernelProtocol: number): string {
  return (
    `The kernel's amldebug_jupyter speaks comm protocol ${kernelProtocol}, ` +
    `this JupyterLab extension speaks ${PROTOCOL_VERSION}: install the same ` +
    "amldebug-jupyter version in the kernel's environment and in JupyterLab's."
  );
}

/**
 * A target's lifecycle state, as the kernel computes it (the schema's
 * `target.state` describes each); the frontend only shows it.
 */
export type TargetState =
  | 'waiting'
  | 'attached'
  | 'running'
  | 'paused'
  | 'post-mortem'
  | 'detached'
  | 'timed out'
  | 'completed'
  | 'failed'
  | 'canceled'
  | 'lost';

/** Every state (checked against the schema's enum in tests). */
export const TARGET_STATES: ReadonlyArray<TargetState> = [
  'waiting',
  'attached',
  'running',
  'paused',
  'post-mortem',
  'detached',
  'timed out',
  'completed',
  'failed',
  'canceled',
  'lost'
];

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
  /** One line to show with the state (where it stopped, the exception...). */
  detail: string | null;
  /** Whether Attach applies now: the kernel decides, the buttons follow. */
  can_attach: boolean;
  can_detach: boolean;
}

export interface ITargetsMessage {
  type: 'targets';
  targets: ITarget[];
  /** Kernel clock when sent (epoch seconds), for clock-skew correction. */
  now?: number;
  /** Kernel home directory, to expand `~` in the server root. */
  home?: string | null;
  /** The kernel's working directory, to find the server root without page config. */
  cwd?: string | null;
  /** The kernel's comm protocol (missing: 1). */
  protocol?: number;
}

export interface IAttachedMessage {
  type: 'attached';
  target: string;
  script: string | null;
  line: number | null;
}

export type DetachReason = 'user' | 'ended' | 'lost';

export interface IDetachedMessage {
  type: 'detached';
  target: string;
  reason?: DetachReason;
}

export type ProblemKind =
  | 'attach_failed'
  | 'unreachable'
  | 'remote_gone'
  | 'deadline_soon'
  | 'protocol_mismatch'
  | 'ended';

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
  | { type: 'hello'; protocol?: number }
  | { type: 'attach'; target: string }
  | { type: 'detach' };

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

/**
 * The kernel's custom `debug_request` commands (the schema's
 * `x-debug-requests`): attach and detach on the control channel, which the
 * kernel answers even while a cell runs (comm messages wait behind it).
 */
export type DebugCommand = 'amldebugAttach' | 'amldebugDetach';

/** Every custom debug command (checked against the schema in tests). */
export const DEBUG_COMMANDS: ReadonlyArray<DebugCommand> = [
  'amldebugAttach',
  'amldebugDetach'
];

/** The DAP response the kernel answers a custom debug command with. */
export interface IDebugReply {
  success: boolean;
  /** One line saying why, when it failed. */
  message?: string;
  body?: { text?: string };
}

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

/**
 * A `targets` message the schema rejects but that comes from another protocol
 * (a kernel whose messages changed shape), as an empty snapshot of that
 * protocol: its targets cannot be read, but its protocol is what the user
 * needs to hear about. A list of targets naming no protocol comes from
 * protocol 1 (whose targets lack `can_attach`). Null for anything else.
 */
export function foreignSnapshot(data: unknown): ITargetsMessage | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const { type, targets, protocol } = data as Record<string, unknown>;
  const version =
    protocol === undefined && Array.isArray(targets) ? 1 : protocol;
  if (
    type !== 'targets' ||
    typeof version !== 'number' ||
    !Number.isInteger(version) ||
    version === PROTOCOL_VERSION
  ) {
    return null;
  }
  return { type: 'targets', targets: [], protocol: version };
}
