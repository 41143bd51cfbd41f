/** How callers address actors, local or remote, with one interface. */

/** Options of `ask()`. */
export interface AskOptions {
  /** Give up after this many ms with `ECSTO`. */
  timeout?: number | undefined
  /** Give up when aborted, with `EABORT`. */
  signal?: AbortSignal | undefined
}

/** An actor, wherever it runs. */
export interface ActorRef<M = unknown, R = unknown> {
  readonly name: string
  /**
   * Sends without waiting for an answer.
   * @throws TroupeError `EMAILBOX` (local mailbox full), `EFRAME`, `ECLOSED`
   */
  tell(message: M): void
  /**
   * Sends and waits for the handler's answer. Rejects with `ECSTO`, `EABORT`, `ETASK` (the
   * handler threw), `EMAILBOX`, `EFRAME`, `ENOTASK` (no such actor) or `ECLOSED`.
   */
  ask(message: M, options?: AskOptions): Promise<R>
}
