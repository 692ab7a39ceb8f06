// The throughput harness: IN_FLIGHT lanes, each sending one message and waiting for its answer
// up to a reply deadline; a message not answered in time is lost (the lane moves on), an error
// answer is an error (never throughput), and answers are counted per message id for the whole
// run plus a settle window (the bus's ack-wait, when it redelivers), so a message answered
// twice is seen even if the second answer comes late.

/** Answers seen per message id: how many successful ends and errors. */
export class AnswerBook {
  #ends = new Map();
  #errors = new Map();
  #waiting = new Map();

  /** Record an answer to `id`: 'ok' (the turn ended) or 'error'. */
  answer(id, kind) {
    const book = kind === 'ok' ? this.#ends : this.#errors;
    book.set(id, (book.get(id) ?? 0) + 1);
    const w = this.#waiting.get(id);
    if (w) {
      this.#waiting.delete(id);
      w(kind);
    }
  }

  /** Resolves with 'ok', 'error', or 'timeout' after `ms`. */
  wait(id, ms) {
    if (this.#ends.has(id)) return Promise.resolve('ok');
    if (this.#errors.has(id)) return Promise.resolve('error');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve('timeout');
      }, ms);
      this.#waiting.set(id, (kind) => {
        clearTimeout(timer);
        resolve(kind);
      });
    });
  }

  /** Messages answered more than once (ends and errors together). */
  twice(ids) {
    let n = 0;
    for (const id of ids) if ((this.#ends.get(id) ?? 0) + (this.#errors.get(id) ?? 0) > 1) n++;
    return n;
  }
}

/**
 * Run `inFlight` lanes for `seconds`. `send(lane, n)` publishes one message and returns its id;
 * `book` receives the answers. Returns sent, ok (answered in time), errors, lost (no answer
 * within `deadlineMs`), twice (answered more than once by the end of `settleMs` after the run)
 * and the rate of ok answers per second.
 */
export async function runLanes({ inFlight, seconds, deadlineMs, settleMs = 500, send, book }) {
  const ids = [];
  let ok = 0;
  let errors = 0;
  let lost = 0;
  let running = true;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      for (let n = 0; running; n++) {
        let id;
        try {
          id = await send(lane, n);
        } catch {
          errors++;
          continue;
        }
        ids.push(id);
        const got = await book.wait(id, deadlineMs);
        if (got === 'ok') ok++;
        else if (got === 'error') errors++;
        else lost++;
        if (performance.now() > until) running = false;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, settleMs));
  return { sent: ids.length, ok, errors, lost, twice: book.twice(ids), rate: ok / elapsed, elapsed };
}
