// The harness tests itself: a fake target that drops one message, answers one with an error and
// answers one twice must be reported as 1 lost, 1 error and 1 answered twice, and neither the
// dropped nor the failed message may count as throughput.
import { AnswerBook, runLanes } from './lanes.mjs';
import { loadAvg } from './lib.mjs';

export async function run() {
  const before = loadAvg();
  const book = new AnswerBook();
  let next = 0;
  const send = async () => {
    const n = next++;
    const id = `m${n}`;
    // Message 3 is dropped, message 5 fails, message 7 is answered twice (the second time late).
    if (n !== 3) setTimeout(() => book.answer(id, n === 5 ? 'error' : 'ok'), 1);
    if (n === 7) setTimeout(() => book.answer(id, 'ok'), 150);
    return id;
  };
  const r = await runLanes({ inFlight: 4, seconds: 0.3, deadlineMs: 100, settleMs: 200, send, book });
  const reported = `${r.lost} / ${r.errors} / ${r.twice}`;
  const load = `${before} → ${loadAvg()}`;
  if (reported !== '1 / 1 / 1' || r.ok !== r.sent - 2) throw new Error(`harness self-test failed: lost / errors / twice = ${reported}, ok ${r.ok} of ${r.sent}`);
  return [
    {
      bench: 'harness self-test',
      measure: `a dropped, a failed and a doubly answered message (of ${r.sent}): lost / errors / twice`,
      ours: reported,
      unit: 'text',
      target: undefined,
      load,
    },
  ];
}
