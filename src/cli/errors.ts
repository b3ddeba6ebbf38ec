// Errors the CLI reports as one line and exit code 2. Anything else is a bug: "internal error", and a
// stack trace with --debug.

export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Unreadable or unparseable input, or a policy the schema refuses. */
export class InputError extends CliError {}

/** A usage mistake: the message is followed by a hint to --help. */
export class UsageError extends CliError {}

/** The cluster cannot be reached, refuses us, or the kubeconfig is unusable. */
export class ClusterError extends CliError {}
